use super::*;
use crate::id::Keypair;

const T: Time = Time(10_000);

fn change(op: Op, addr: u8) -> Change {
    Change {
        op,
        peer: Keypair::from_secret([1; 32]).id(),
        addr: SocketAddr::from(([10, 0, 0, addr], 7000)),
        incarnation: 1,
    }
}

fn vote(c: Change, yes: bool) -> Vote {
    Vote::new(&Keypair::from_secret([9; 32]), c, yes, "")
}

/// A yes is remembered 600 s, a no 5 s (the seed's defaults).
fn memory(v: &Vote) -> Duration {
    Duration::from_secs(if v.yes { 600 } else { 5 })
}

#[test]
fn a_yes_to_an_add_is_a_promise_and_every_vote_but_a_no_to_a_removal_is_remembered() {
    let mut votes = Votes::new(T);
    let add = change(Op::Add, 1);
    let peer = add.peer;
    votes.record(&vote(add, true), T);
    assert_eq!(votes.promised(peer, 1), Some(add.addr));
    assert_eq!(votes.get(&add.digest()), Some(&vote(add, true)));

    let other = change(Op::Add, 2);
    votes.record(&vote(other, false), T);
    assert_eq!(
        votes.promised(peer, 1),
        Some(add.addr),
        "a no promises nothing"
    );
    assert!(votes.get(&other.digest()).is_some());

    let removal = change(Op::Remove, 1);
    votes.record(&vote(removal, false), T);
    assert!(votes.get(&removal.digest()).is_none());
    votes.record(&vote(removal, true), T);
    assert!(votes.get(&removal.digest()).is_some());
}

#[test]
fn a_sweep_forgets_votes_past_their_memory_and_promises_without_a_vote() {
    let mut votes = Votes::new(T);
    assert_eq!(votes.deadline(), None, "nothing held");
    assert!(votes.due(T));
    let (yes, no) = (change(Op::Add, 1), change(Op::Add, 2));
    votes.record(&vote(yes, true), T);
    votes.record(&vote(no, false), T);
    let never = |_, _| false;

    let later = T + Duration::from_secs(5);
    votes.sweep(later, memory, never);
    assert_eq!(votes.deadline(), Some(later + Duration::from_secs(1)));
    assert!(!votes.due(later));
    assert!(votes.get(&no.digest()).is_none(), "a no lasts 5 s");
    assert!(votes.get(&yes.digest()).is_some());
    assert_eq!(votes.promised(yes.peer, 1), Some(yes.addr));

    // Admitted: the Peer List keeps the address, the promise goes.
    let admitted = |_, inc| inc >= 1;
    votes.sweep(later, memory, admitted);
    assert_eq!(votes.promised(yes.peer, 1), None);
    assert!(votes.get(&yes.digest()).is_some());

    votes.sweep(T + Duration::from_secs(600), memory, never);
    assert_eq!(votes.get(&yes.digest()), None);
    assert_eq!(votes.deadline(), None);
}
