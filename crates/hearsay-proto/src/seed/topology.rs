//! The overlay as the seeds know it (SPEC §6 Neighbours, PROTOCOL §7): each peer's newest
//! signed neighbour report, and the degrees peer lists give.
//!
//! A peer's degree counts its reported neighbours that are admitted and report the link
//! back, so that a peer cannot draw links by claiming neighbours it does not have. Degrees
//! are kept incrementally: a report or a membership change adjusts only the links it makes or
//! breaks ([`Topology::count_degree`] is the same number counted from scratch).

use crate::cert::NeighborReport;
use crate::id::PeerId;
use crate::sig::{HashKeys, IdMap};

/// Most neighbour reports held from peers not in the Peer List.
const EXTRA_REPORTS: usize = 256;
/// Most neighbours in a held report of a peer not in the Peer List (an honest peer reports
/// as soon as it is admitted, with the few neighbours it has linked to by then).
const UNADMITTED_NEIGHBORS: usize = 64;

/// Neighbour reports and degrees. Membership is the caller's: every call that needs it is
/// given `member`, which says whether a peer is admitted.
#[derive(Debug)]
pub(super) struct Topology {
    /// Each peer's newest report: looked up by id only, never walked.
    reports: IdMap<PeerId, NeighborReport>,
    /// Bumped by every report set and every membership change: what was computed from the
    /// topology at one version still holds while it stays.
    version: u64,
    /// Degrees as peer lists give them. Zero is not stored.
    degrees: IdMap<PeerId, u32>,
}

impl Topology {
    /// No reports yet; ids hashed under `keys`.
    pub(super) fn new(keys: HashKeys) -> Topology {
        Topology {
            reports: IdMap::with_hasher(keys),
            version: 0,
            degrees: IdMap::with_hasher(keys),
        }
    }

    /// The topology's version: it changes whenever a report or a membership does.
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    /// `peer`'s newest report.
    pub(super) fn report(&self, peer: &PeerId) -> Option<&NeighborReport> {
        self.reports.get(peer)
    }

    /// Whether to hold `report`: newer than the one held (checked first: dropping a stale
    /// report before its signature check saves most of a seed's work with many peers, as
    /// every report also comes forwarded by the other seeds), signed (`verify`), and, from a
    /// peer not admitted (yet: its report may come before the certificate), small and
    /// within the room left beside the `members` reports: unadmitted keys cannot fill the
    /// seeds. `member`: whether its peer is admitted.
    pub(super) fn admits(
        &self,
        report: &NeighborReport,
        (member, members): (bool, usize),
        verify: impl FnOnce(&NeighborReport) -> bool,
    ) -> bool {
        let held = self.reports.get(&report.peer);
        if held.is_some_and(|r| r.seq >= report.seq) || !verify(report) {
            return false;
        }
        let small = report.neighbors.len() <= UNADMITTED_NEIGHBORS;
        member || held.is_some() || (small && self.reports.len() < members + EXTRA_REPORTS)
    }

    /// Reports held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.reports.len()
    }

    /// `id`'s degree: its mutual links to admitted peers.
    pub(super) fn degree(&self, id: &PeerId) -> u32 {
        self.degrees.get(id).copied().unwrap_or(0)
    }

    /// [`Topology::degree`] counted from the reports (the definition; tests compare the two).
    #[cfg(test)]
    pub(super) fn count_degree(&self, id: &PeerId, member: impl Fn(&PeerId) -> bool) -> u32 {
        let Some(report) = self.reports.get(id) else {
            return 0;
        };
        let mutual = |n: &&PeerId| *n != id && member(n) && self.names(n, id);
        report.neighbors.iter().filter(mutual).count() as u32
    }

    /// Whether `peer`'s report names `other` (verified reports are sorted, each id once).
    fn names(&self, peer: &PeerId, other: &PeerId) -> bool {
        (self.reports.get(peer)).is_some_and(|r| r.neighbors.binary_search(other).is_ok())
    }

    fn bump(&mut self, id: PeerId, up: bool) {
        let d = self.degrees.entry(id).or_insert(0);
        *d = if up { *d + 1 } else { d.saturating_sub(1) };
        if *d == 0 {
            self.degrees.remove(&id);
        }
    }

    /// `peer`'s report becomes `report` (or goes): the mutual links it makes or breaks
    /// count at each end whose other end is admitted.
    pub(super) fn set_report(
        &mut self,
        peer: PeerId,
        report: Option<NeighborReport>,
        member: impl Fn(&PeerId) -> bool,
    ) {
        self.version += 1;
        let old = self.reports.remove(&peer);
        let (old_n, new_n) = (
            old.as_ref().map_or(&[][..], |r| &r.neighbors[..]),
            report.as_ref().map_or(&[][..], |r| &r.neighbors[..]),
        );
        let gone = old_n.iter().filter(|n| new_n.binary_search(n).is_err());
        let came = new_n.iter().filter(|n| old_n.binary_search(n).is_err());
        let changes: Vec<(PeerId, bool)> = (gone.map(|n| (*n, false)))
            .chain(came.map(|n| (*n, true)))
            .filter(|(n, _)| *n != peer && self.names(n, &peer))
            .collect();
        let admitted = member(&peer);
        for (n, up) in changes {
            if member(&n) {
                self.bump(peer, up);
            }
            if admitted {
                self.bump(n, up);
            }
        }
        if let Some(r) = report {
            self.reports.insert(peer, r);
        }
    }

    /// The members outside the overlay's main part: the connected parts of the mutual links
    /// between `members` are found, and the main one is the part with the most members
    /// `linked` says are linked to this seed (a dead peer holds no link), then the largest,
    /// then the one with the lowest id. Members of every other part are returned, in order.
    /// A group of peers that died together forms such a part, and so does a live one the
    /// overlay has lost (PROTOCOL §12.6).
    pub(super) fn outside_main_part(
        &self,
        members: impl Iterator<Item = PeerId>,
        member: impl Fn(&PeerId) -> bool,
        linked: impl Iterator<Item = PeerId>,
    ) -> Vec<PeerId> {
        // Looked up by key only (walked once at the end, and the result sorted).
        let mut part_of: IdMap<PeerId, usize> = IdMap::with_hasher(*self.reports.hasher());
        // Per part: (members linked to this seed, size), and the lowest id comes first.
        let mut parts: Vec<(usize, usize)> = Vec::new();
        for start in members {
            if part_of.contains_key(&start) {
                continue;
            }
            let part = parts.len();
            let mut size = 0;
            let mut todo = vec![start];
            part_of.insert(start, part);
            while let Some(id) = todo.pop() {
                size += 1;
                let Some(report) = self.reports.get(&id) else {
                    continue;
                };
                for n in &report.neighbors {
                    if !part_of.contains_key(n) && member(n) && self.names(n, &id) {
                        part_of.insert(*n, part);
                        todo.push(*n);
                    }
                }
            }
            parts.push((0, size));
        }
        // The links are far fewer than the members: count them per part afterwards.
        for id in linked {
            if let Some(&p) = part_of.get(&id) {
                parts[p].0 += 1;
            }
        }
        // The first of the parts that rank highest: max_by_key keeps the last, so go back.
        let main = (0..parts.len()).rev().max_by_key(|&p| parts[p]);
        let mut outside: Vec<PeerId> = (part_of.into_iter())
            .filter(|(_, p)| Some(*p) != main)
            .map(|(id, _)| id)
            .collect();
        outside.sort_unstable();
        outside
    }

    /// `peer` joins or leaves the Peer List: its mutual links count at their other ends.
    pub(super) fn membership_changed(&mut self, peer: PeerId, admitted: bool) {
        self.version += 1;
        let mutual: Vec<PeerId> = (self.reports.get(&peer).into_iter())
            .flat_map(|r| r.neighbors.iter().copied())
            .filter(|n| *n != peer && self.names(n, &peer))
            .collect();
        for n in mutual {
            self.bump(n, admitted);
        }
    }
}

#[cfg(test)]
mod tests;
