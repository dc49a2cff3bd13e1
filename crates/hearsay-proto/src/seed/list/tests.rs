use super::*;
use crate::id::Keypair;

fn peer(i: u8) -> PeerId {
    Keypair::from_secret([i; 32]).id()
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 7000))
}

/// A certificate of `op` on peer `i` at `addr(at)`, `incarnation` (unsigned: the list
/// applies what was verified before it).
fn cert(op: Op, i: u8, at: u8, incarnation: u64) -> Certificate {
    let change = Change {
        op,
        peer: peer(i),
        addr: addr(at),
        incarnation,
    };
    Certificate::from_votes(change, &[])
}

fn list() -> PeerList {
    PeerList::new(HashKeys::from_seed(1))
}

#[test]
fn an_admission_joins_once_and_a_later_incarnation_updates_the_entry() {
    let mut l = list();
    assert_eq!(l.apply(&cert(Op::Add, 1, 1, 1)), Some(Membership::Joined));
    assert_eq!(l.apply(&cert(Op::Add, 1, 1, 1)), None, "the same again");
    assert!(l.contains(&peer(1)));
    assert_eq!(l.holder(&addr(1)), Some(&peer(1)));
    assert_eq!(l.listed(), [(peer(1), addr(1), 1)]);
    // Incarnation 2 at another address: the first address is free again.
    assert_eq!(l.apply(&cert(Op::Add, 1, 2, 2)), Some(Membership::Updated));
    assert_eq!(l.holder(&addr(1)), None);
    assert_eq!(l.holder(&addr(2)), Some(&peer(1)));
    assert_eq!(l.listed(), [(peer(1), addr(2), 2)]);
    assert_eq!(
        l.apply(&cert(Op::Add, 1, 1, 1)),
        None,
        "an older incarnation"
    );
    assert_eq!((l.len(), l.certificates()), (1, 1));
}

#[test]
fn a_removal_leaves_a_tombstone_that_only_a_later_incarnation_gets_past() {
    let mut l = list();
    l.apply(&cert(Op::Add, 1, 1, 2));
    // A removal of an older incarnation is kept, but the member stays.
    assert_eq!(
        l.apply(&cert(Op::Remove, 1, 1, 1)),
        Some(Membership::Tombstone)
    );
    assert!(l.contains(&peer(1)));
    assert_eq!(l.apply(&cert(Op::Remove, 1, 1, 2)), Some(Membership::Left));
    assert!(!l.contains(&peer(1)) && l.get(&peer(1)).is_none());
    assert_eq!(l.holder(&addr(1)), None);
    assert_eq!(l.tombstone(&peer(1)).map(|c| c.change.incarnation), Some(2));
    assert_eq!((l.len(), l.tombstones(), l.certificates()), (0, 1, 1));
    assert!(!l.changes(&cert(Op::Add, 1, 1, 2).change));
    assert!(l.changes(&cert(Op::Add, 1, 1, 3).change));
    assert_eq!(l.apply(&cert(Op::Add, 1, 1, 3)), Some(Membership::Joined));
    assert_eq!(l.certificates(), 2);
}

#[test]
fn the_index_follows_members_that_leave_from_the_middle() {
    let mut l = list();
    for i in 1..=3 {
        l.apply(&cert(Op::Add, i, i, 1));
    }
    l.apply(&cert(Op::Remove, 1, 1, 1));
    let mut listed = l.listed().to_vec();
    listed.sort_unstable();
    let mut want = vec![(peer(2), addr(2), 1), (peer(3), addr(3), 1)];
    want.sort_unstable();
    assert_eq!(listed, want);
    l.apply(&cert(Op::Remove, 3, 3, 1));
    assert_eq!(l.listed(), [(peer(2), addr(2), 1)]);
    assert!(l.contains(&peer(2)) && !l.contains(&peer(3)));
}

#[test]
fn two_lists_holding_the_same_certificates_agree_whatever_the_order() {
    let certs = [
        cert(Op::Add, 1, 1, 1),
        cert(Op::Add, 2, 2, 1),
        cert(Op::Remove, 1, 1, 1),
        cert(Op::Add, 3, 3, 1),
    ];
    let (mut a, mut b) = (list(), list());
    for c in &certs {
        a.apply(c);
    }
    for c in certs.iter().rev() {
        b.apply(c);
    }
    assert_eq!(a.root(), b.root());
    assert_eq!(a.members(), b.members());
    assert!(a.differing(&b.hashes()).is_empty());
    // One more at b: only its bucket differs, and that bucket holds it.
    let extra = cert(Op::Add, 4, 4, 1);
    b.apply(&extra);
    let bucket = peer(4).0[0];
    assert_ne!(a.root(), b.root());
    assert_eq!(a.differing(&b.hashes()), [bucket]);
    assert!(b.bucket(bucket).any(|c| *c == extra));
    assert!(!a.bucket(bucket).any(|c| *c == extra));
}
