//! Announcements held for their link (PROTOCOL §11.7, point 5), kept by link as well as by
//! when they are due, so that a turn's gossip to a few links looks at their announcements
//! only, however many are held for the others.

use std::collections::VecDeque;
use std::time::Duration;

use smallvec::SmallVec;

use super::on_tick;
use crate::gossip::MsgId;
use crate::link::{LinkId, LinkMap};
use crate::time::Time;

/// Holds of `announce_hold` a link has been up after which announcements held for it wait
/// twice as long, at ticks twice as far apart, and four times after twice this.
const SETTLED: u32 = 20;

/// Kinds of held announcement: by the link's age (young, settled, settled twice as long),
/// then held once or twice. Each kind's announcements fall due in the order they were held.
const KINDS: usize = 6;

/// Held once or twice.
const HOLDS: usize = 2;

/// A neighbour link: when it came up, and its held announcements by holds, while it has
/// some (boxed: most links of a large network hold nothing most of the time).
#[derive(Debug, Default)]
struct Link {
    up: Option<Time>,
    held: Option<Box<[VecDeque<Waiting>; HOLDS]>>,
}

impl Link {
    /// Lets go of the queues once they are empty.
    fn tidy(&mut self) {
        if self
            .held
            .as_ref()
            .is_some_and(|h| h.iter().all(VecDeque::is_empty))
        {
            self.held = None;
        }
    }
}

/// One held announcement in its link's queue: `seq` orders all of them as they were held;
/// it goes with other gossip to the link once `ready`.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    seq: u64,
    kind: u8,
    ready: Time,
    id: MsgId,
}

/// An announcement's place in its kind's order: due at `due`, and (for
/// [`HeldHaves::take_ready`]) ready at `ready`.
#[derive(Clone, Copy, Debug)]
struct InKind {
    due: Time,
    ready: Time,
    seq: u64,
    link: LinkId,
}

/// The held announcements: by link and holds, each in the order held, and by kind, each in
/// the order held (so in the order due, and in the order ready). A link's age only grows, so
/// of its announcements held alike a later one is of the same kind or a later one, ready and
/// due no earlier: each link queue loses its announcements from the front, whether they go
/// with other gossip once ready or at their kind's turn once due. So an entry of `by_kind` is
/// still held exactly when its link queue's first is no later; one that went with other
/// gossip is skipped when reached, and each kind's first entry is always one still held, so
/// that [`HeldHaves::deadline`] is exact.
#[derive(Debug)]
pub(super) struct HeldHaves {
    /// `announce_hold`: never zero (a zero hold holds nothing).
    hold: Duration,
    links: LinkMap<Link>,
    by_kind: [VecDeque<InKind>; KINDS],
    next_seq: u64,
}

impl HeldHaves {
    /// Announcements held in holds of `hold`.
    pub(super) fn new(hold: Duration) -> HeldHaves {
        HeldHaves {
            hold,
            links: LinkMap::default(),
            by_kind: Default::default(),
            next_seq: 0,
        }
    }

    /// A neighbour link came up at `now`.
    pub(super) fn link_up(&mut self, now: Time, link: LinkId) {
        self.links.entry(link).or_default().up = Some(now);
    }

    /// Whether any held announcement is ready by `now`: each kind's first is its first ready.
    pub(super) fn any_ready(&self, now: Time) -> bool {
        (self.by_kind.iter()).any(|k| k.front().is_some_and(|e| e.ready <= now))
    }

    /// Whether none is held.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.by_kind.iter().all(VecDeque::is_empty)
    }

    /// Holds the announcement of `id` on `link` for `holds` (1 or 2) holds, then until a tick
    /// of the hold. On a link up for [`SETTLED`] holds, twice as many, at a tick of twice the
    /// hold, so that more go in each frame; four times after twice that. Both ends of a link
    /// agree on its age within a trip, the dialling end's the younger, so the dialling end's
    /// announcement still goes first. Once ready (after `holds` holds), it goes with other
    /// gossip to the link ([`HeldHaves::take_ready`]).
    pub(super) fn hold(&mut self, now: Time, link: LinkId, id: MsgId, holds: u32) {
        let hold = self.hold;
        let l = self.links.entry(link).or_default();
        let up = l.up.unwrap_or(now);
        let age = now.since(up).as_millis() / (hold * SETTLED).as_millis().max(1);
        let age = age.min(2) as u32;
        let kind = age as usize * 2 + holds as usize - 1;
        let due = on_tick(now + hold * (holds << age), hold * (1 << age));
        let w = Waiting {
            seq: self.next_seq,
            kind: kind as u8,
            ready: now + hold * holds,
            id,
        };
        let q = &mut l.held.get_or_insert_default()[holds_of(kind)];
        debug_assert!(q
            .back()
            .is_none_or(|b| b.kind <= w.kind && b.ready <= w.ready));
        q.push_back(w);
        self.by_kind[kind].push_back(InKind {
            due,
            ready: w.ready,
            seq: w.seq,
            link,
        });
        self.next_seq += 1;
    }

    /// When the first held announcement is due.
    pub(super) fn deadline(&self) -> Option<Time> {
        self.by_kind
            .iter()
            .filter_map(|k| k.front())
            .map(|f| f.due)
            .min()
    }

    /// Takes every announcement due by `now`: kind by kind, each kind in the order held.
    pub(super) fn take_due(&mut self, now: Time, mut f: impl FnMut(LinkId, MsgId)) {
        let mut kinds = 0;
        for kind in 0..KINDS {
            while let Some(&e) = self.by_kind[kind].front().filter(|e| e.due <= now) {
                self.by_kind[kind].pop_front();
                kinds |= 1 << kind;
                if let Some(id) = self.take(e.link, holds_of(kind), e.seq) {
                    f(e.link, id);
                }
            }
        }
        self.skip_gone(kinds);
    }

    /// Takes every announcement ready by `now` for the links in `going` (each once): kind by
    /// kind, each kind in the order held, as [`HeldHaves::take_due`] would have.
    pub(super) fn take_ready(
        &mut self,
        now: Time,
        going: &[LinkId],
        mut f: impl FnMut(LinkId, MsgId),
    ) {
        // A turn's gossip takes a few at a time: kept on the stack, not allocated each turn.
        let mut taken: SmallVec<[(u8, u64, LinkId, MsgId); 32]> = SmallVec::new();
        let mut kinds = 0;
        for &link in going {
            let Some(l) = self.links.get_mut(&link) else {
                continue;
            };
            for q in l.held.iter_mut().flat_map(|h| h.iter_mut()) {
                while let Some(&w) = q.front().filter(|w| w.ready <= now) {
                    q.pop_front();
                    kinds |= 1 << w.kind;
                    taken.push((w.kind, w.seq, link, w.id));
                }
            }
            l.tidy();
        }
        taken.sort_unstable_by_key(|&(kind, seq, _, _)| (kind, seq));
        for (_, _, link, id) in taken {
            f(link, id);
        }
        self.skip_gone(kinds);
    }

    /// A link closed: drops what is held for it; returns how many.
    pub(super) fn link_closed(&mut self, link: LinkId) -> usize {
        let held = self.links.remove(&link).and_then(|l| l.held);
        let dropped = held.map_or(0, |h| h.iter().map(VecDeque::len).sum());
        self.skip_gone(u8::MAX);
        dropped
    }

    /// The announcement held `seq`-th, `holds` times, for `link`, taken out; None if it has
    /// gone already.
    fn take(&mut self, link: LinkId, holds: usize, seq: u64) -> Option<MsgId> {
        let l = self.links.get_mut(&link)?;
        let q = &mut l.held.as_mut()?[holds];
        // Taken from the front, or gone already (see the type).
        let first = q.front().filter(|first| first.seq == seq)?.id;
        q.pop_front();
        l.tidy();
        Some(first)
    }

    /// Drops the first entries of each kind in `kinds` (a bit each: the kinds some of whose
    /// announcements went) while their announcement has gone. The other kinds' first entries
    /// are as they were: still held.
    fn skip_gone(&mut self, kinds: u8) {
        let touched = (self.by_kind.iter_mut().enumerate()).filter(|(k, _)| kinds & (1 << k) != 0);
        for (kind, entries) in touched {
            while let Some(&e) = entries.front() {
                // A link's announcements held alike go in the order held (see the type).
                let held = (self.links.get(&e.link))
                    .and_then(|l| l.held.as_ref()?[holds_of(kind)].front())
                    .is_some_and(|first| first.seq <= e.seq);
                if held {
                    break;
                }
                entries.pop_front();
            }
        }
    }
}

/// Which of a link's queues holds announcements of `kind`.
fn holds_of(kind: usize) -> usize {
    kind % HOLDS
}

#[cfg(test)]
mod tests;
