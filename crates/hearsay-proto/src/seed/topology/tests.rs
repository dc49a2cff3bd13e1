//! Tests of the seeds' topology: degrees count mutual links to admitted peers, kept
//! incrementally, equal to a recount after every step.

use std::collections::BTreeSet;

use super::*;
use crate::id::Keypair;

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
    let mut t = Topology::default();
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
