//! Tests of a peer's suspicion books: one input, the exact decision.

use super::*;
use crate::id::Keypair;

const T0: Time = Time(1_000_000);
const WAIT: Duration = Duration::from_secs(4);

fn key(i: u8) -> Keypair {
    Keypair::from_secret([i; 32])
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 7000))
}

/// Peer 1 suspects peer 9 (incarnation 2), with its own verdict.
fn suspecting() -> Suspicions {
    let mut s = Suspicions::default();
    let target = Target {
        id: key(9).id(),
        incarnation: 2,
    };
    let own = Verdict::new(&key(1), (target.id, addr(9), 2), false, T0);
    assert!(s.open(T0, (target, addr(9)), own.clone(), WAIT));
    assert!(!s.open(T0, (target, addr(9)), own, WAIT), "one at a time");
    s
}

fn verdict(witness: u8, alive: bool, incarnation: u64) -> Verdict {
    Verdict::new(
        &key(witness),
        (key(9).id(), addr(9), incarnation),
        alive,
        T0,
    )
}

/// The seed's witness list is awaited a quarter of the wait, the verdicts the whole wait.
#[test]
fn a_suspicion_waits_a_quarter_for_witnesses_and_the_whole_wait_for_verdicts() {
    let mut s = suspecting();
    let nine = key(9).id();
    assert_eq!(s.deadline(), Some(T0 + WAIT / 4));
    assert_eq!(s.due(T0 + WAIT / 4), [(nine, Due::Witnesses)]);
    let witnesses = vec![
        (key(2).id(), addr(2)),
        (key(3).id(), addr(3)),
        (key(2).id(), addr(2)),
    ];
    let (request, new) = s.ask(nine, witnesses).expect("suspected");
    assert_eq!(
        (request.suspect, request.addr, request.incarnation),
        (nine, addr(9), 2)
    );
    assert_eq!(
        new,
        [(key(2).id(), addr(2)), (key(3).id(), addr(3))],
        "each once"
    );
    assert!(!s.choosing(&nine));
    assert_eq!(s.deadline(), Some(T0 + WAIT));
    assert_eq!(s.due(T0 + WAIT / 2), []);
    assert_eq!(s.due(T0 + WAIT), [(nine, Due::Decide)]);
}

/// A verdict counts only from the witness that signed it, asked, about the incarnation
/// suspected; the last one waited for decides, and two dead verdicts of two confirm.
#[test]
fn only_fitting_verdicts_count_and_the_last_one_decides() {
    let mut s = suspecting();
    let nine = key(9).id();
    s.ask(nine, vec![(key(2).id(), addr(2)), (key(3).id(), addr(3))]);
    let checks = Checks::default();
    assert!(
        !s.verdict(key(4).id(), verdict(2, false, 2), &checks),
        "not its signer"
    );
    assert!(
        !s.verdict(key(2).id(), verdict(2, false, 1), &checks),
        "an older incarnation"
    );
    assert!(
        !s.verdict(key(5).id(), verdict(5, false, 2), &checks),
        "not asked"
    );
    assert!(
        !s.verdict(key(2).id(), verdict(2, false, 2), &checks),
        "one still waited for"
    );
    assert!(s.unreachable(nine, key(3).id()), "the last one");
    let decided = s.close(&nine).expect("open");
    assert_eq!(
        (decided.dead, decided.verdicts.len(), decided.confirmed),
        (2, 2, true)
    );
    assert_eq!((decided.addr, decided.incarnation), (addr(9), 2));
    assert!(!s.contains(&nine));
    assert_eq!(s.deadline(), None);
}

/// An alive verdict outweighs: one dead (the suspecter's own) and one alive do not confirm.
#[test]
fn an_alive_verdict_clears_the_suspicion() {
    let mut s = suspecting();
    let nine = key(9).id();
    s.ask(nine, vec![(key(2).id(), addr(2))]);
    assert!(s.verdict(key(2).id(), verdict(2, true, 2), &Checks::default()));
    let decided = s.close(&nine).expect("open");
    assert_eq!(
        (decided.dead, decided.verdicts.len(), decided.confirmed),
        (1, 2, false)
    );
}
