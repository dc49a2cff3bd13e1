//! Tests of the seeds' topology: degrees count mutual links to admitted peers, kept
//! incrementally, equal to a recount after every step.

use std::collections::BTreeSet;

use super::*;
use crate::id::Keypair;
use crate::sig::HashKeys;

fn key(i: u8) -> Keypair {
    Keypair::from_secret([i; 32])
}

fn report(of: u8, seq: u64, neighbors: &[u8]) -> NeighborReport {
    NeighborReport::new(
        &key(of),
        seq,
        neighbors.iter().map(|&n| key(n).id()).collect(),
    )
}

/// Degrees of peers 1..=4, checked against a recount.
fn degrees(t: &Topology, members: &BTreeSet<PeerId>) -> Vec<u32> {
    (1..=4)
        .map(|i| {
            let id = key(i).id();
            assert_eq!(t.degree(&id), t.count_degree(&id, |p| members.contains(p)));
            t.degree(&id)
        })
        .collect()
}

#[test]
fn a_link_counts_only_when_both_ends_report_it_and_the_other_end_is_admitted() {
    let mut t = Topology::new(HashKeys::from_seed(1));
    let mut members: BTreeSet<PeerId> = (1..=3).map(|i| key(i).id()).collect();
    let member = |m: &BTreeSet<PeerId>| {
        let m = m.clone();
        move |p: &PeerId| m.contains(p)
    };
    t.set_report(
        key(1).id(),
        Some(report(1, 1, &[2, 3, 4])),
        member(&members),
    );
    assert_eq!(
        degrees(&t, &members),
        [0, 0, 0, 0],
        "claimed, not reported back"
    );
    t.set_report(key(2).id(), Some(report(2, 1, &[1])), member(&members));
    assert_eq!(degrees(&t, &members), [1, 1, 0, 0]);
    // Peer 4 reports peer 1 back, but is not admitted: only its own degree counts it.
    t.set_report(key(4).id(), Some(report(4, 1, &[1])), member(&members));
    assert_eq!(degrees(&t, &members), [1, 1, 0, 1]);
    members.insert(key(4).id());
    t.membership_changed(key(4).id(), true);
    assert_eq!(degrees(&t, &members), [2, 1, 0, 1]);
    // Peer 2 drops the link; peer 1 leaves the Peer List.
    t.set_report(key(2).id(), Some(report(2, 2, &[])), member(&members));
    assert_eq!(degrees(&t, &members), [1, 0, 0, 1]);
    members.remove(&key(1).id());
    t.membership_changed(key(1).id(), false);
    assert_eq!(degrees(&t, &members)[3], 0);
    t.set_report(key(4).id(), None, member(&members));
    assert_eq!(t.len(), 2);
    assert!(t.report(&key(4).id()).is_none());
}

/// PROTOCOL §12.6: the main part of the overlay is the connected part with the most members
/// linked to the seed, then the largest; every member of another part is returned. Links
/// count only when mutual and between members.
#[test]
fn the_members_outside_the_main_part_are_those_a_group_death_or_a_split_left_apart() {
    let mut t = Topology::new(HashKeys::from_seed(1));
    let members: BTreeSet<PeerId> = (1..=6).map(|i| key(i).id()).collect();
    let member = |p: &PeerId| members.contains(p);
    // 1–2–3 mutual; 4–5 mutual; 6 claims 1, which does not claim it back.
    for (of, n) in [
        (1, &[2][..]),
        (2, &[1, 3][..]),
        (3, &[2][..]),
        (4, &[5][..]),
        (5, &[4][..]),
        (6, &[1][..]),
    ] {
        t.set_report(key(of).id(), Some(report(of, 1, n)), member);
    }
    let ids = |v: &[u8]| -> Vec<PeerId> {
        let set: BTreeSet<PeerId> = v.iter().map(|&i| key(i).id()).collect();
        set.into_iter().collect()
    };
    let outside = |linked: &[u8]| {
        let linked = linked.iter().map(|&i| key(i).id());
        t.outside_main_part(members.iter().copied(), member, linked)
    };
    // Nobody linked: the largest part is the main one.
    assert_eq!(outside(&[]), ids(&[4, 5, 6]));
    // The part with a member linked to this seed wins over a larger one without.
    assert_eq!(outside(&[4]), ids(&[1, 2, 3, 6]));
    assert_eq!(outside(&[1, 4, 6]), ids(&[4, 5, 6]));
    // Members only: 1–2–3 is cut in two when 2 leaves the Peer List.
    let without_2 = |p: &PeerId| *p != key(2).id() && members.contains(p);
    let rest = members.iter().copied().filter(|p| *p != key(2).id());
    let out = t.outside_main_part(rest, without_2, std::iter::empty());
    assert_eq!(out, ids(&[1, 3, 6]));
}

#[test]
fn a_report_is_held_only_if_newer_and_signed_and_an_outsiders_only_if_small_and_within_room() {
    let mut t = Topology::new(HashKeys::from_seed(1));
    let signed = |_: &NeighborReport| true;
    let forged = |_: &NeighborReport| false;
    let members = (false, 0);
    assert!(t.admits(&report(1, 5, &[2]), members, signed));
    assert!(!t.admits(&report(1, 5, &[2]), members, forged));
    t.set_report(key(1).id(), Some(report(1, 5, &[2])), |_| false);
    // Not newer: dropped before its signature is looked at.
    let never = |_: &NeighborReport| -> bool { panic!("checked a stale report") };
    assert!(!t.admits(&report(1, 5, &[3]), members, never));
    // A peer whose report is held is known: any size.
    let many: Vec<u8> = (10..100).collect();
    assert!(t.admits(&report(1, 6, &many), members, signed));
    // An outsider: at most 64 neighbours, and 256 reports beside the members'.
    assert!(!t.admits(&report(2, 1, &many), members, signed));
    assert!(
        t.admits(&report(2, 1, &many), (true, 0), signed),
        "a member: any size"
    );
    for i in 0..255u8 {
        let peer = Keypair::from_secret([
            i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8,
            9, 0, 1,
        ]);
        let r = NeighborReport::new(&peer, 1, vec![]);
        t.set_report(peer.id(), Some(r), |_| false);
    }
    assert_eq!(t.len(), 256);
    assert!(!t.admits(&report(2, 1, &[1]), members, signed), "no room");
    assert!(
        t.admits(&report(2, 1, &[1]), (false, 1), signed),
        "one member: one more"
    );
}
