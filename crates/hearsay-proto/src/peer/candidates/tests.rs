//! Tests of the overlay rule's books: one input, the exact decision.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::id::Keypair;

const T0: Time = Time(1_000_000);
const WAIT: Duration = Duration::from_secs(2);
const REFILL: Duration = Duration::from_secs(1);

fn info(i: u8, degree: u32) -> PeerInfo {
    PeerInfo {
        id: Keypair::from_secret([i; 32]).id(),
        addr: std::net::SocketAddr::from(([10, 0, 0, i], 7000)),
        incarnation: 1,
        degree,
    }
}

/// A round chooses once every linked seed's list came (or at `lists_due`); the lists merge
/// into candidates, each peer once at the highest degree given, never the peer itself.
#[test]
fn the_lists_of_a_round_merge_into_candidates_once_every_seed_answered() {
    let mut c = Candidates::new(WAIT, REFILL, HashKeys::from_seed(0));
    assert!(!c.list(0, vec![info(1, 1)], 1), "no round under way");
    c.ask(T0);
    assert_eq!(c.lists_due(), Some(T0 + WAIT));
    assert!(!c.list(0, vec![info(1, 1), info(2, 0)], 2), "1 of 2 seeds");
    assert!(c.list(1, vec![info(1, 5), info(9, 3)], 2), "2 of 2");
    c.merge(info(9, 0).id);
    assert_eq!(c.lists_due(), None);
    let all = c.draw(10, &BTreeSet::new(), &mut ChaCha8Rng::seed_from_u64(1));
    let mut got: Vec<(u8, u32)> = all
        .iter()
        .map(|p| (p.addr.ip().to_string().len() as u8, p.degree))
        .collect();
    got.sort();
    let mut ids: Vec<PeerId> = all.iter().map(|p| p.id).collect();
    ids.sort();
    let mut want = vec![info(1, 0).id, info(2, 0).id];
    want.sort();
    assert_eq!(ids, want, "9 is this peer");
    assert!(
        all.iter().any(|p| p.id == info(1, 0).id && p.degree == 5),
        "highest degree"
    );
    assert_eq!(
        c.draw(10, &BTreeSet::new(), &mut ChaCha8Rng::seed_from_u64(1)),
        [],
        "tried"
    );
}

/// Busy peers are never drawn; a new round may draw those tried in the last one.
#[test]
fn busy_peers_are_not_drawn_and_a_new_round_forgets_the_tried() {
    let mut c = Candidates::new(WAIT, REFILL, HashKeys::from_seed(0));
    c.ask(T0);
    c.list(0, vec![info(1, 0), info(2, 0), info(3, 0)], 1);
    c.merge(info(9, 0).id);
    let busy = BTreeSet::from([info(1, 0).id, info(2, 0).id]);
    let drawn = c.draw(3, &busy, &mut ChaCha8Rng::seed_from_u64(7));
    assert_eq!(drawn, [info(3, 0)]);
    c.ask(T0);
    c.list(0, vec![info(3, 0)], 1);
    c.merge(info(9, 0).id);
    assert_eq!(
        c.draw(3, &BTreeSet::new(), &mut ChaCha8Rng::seed_from_u64(7)),
        [info(3, 0)]
    );
    c.enough();
    assert_eq!(
        c.draw(3, &BTreeSet::new(), &mut ChaCha8Rng::seed_from_u64(7)),
        []
    );
}

/// A shunned peer (it sent forged gossip) is never drawn, in this round or a later one; at
/// most `MAX_SHUNNED` are remembered, the oldest forgotten first.
#[test]
fn shunned_peers_are_not_drawn() {
    let mut c = Candidates::new(WAIT, REFILL, HashKeys::from_seed(0));
    c.shun(info(1, 0).id);
    for _ in 0..2 {
        c.ask(T0);
        c.list(0, vec![info(1, 50), info(2, 0)], 1);
        c.merge(info(9, 0).id);
        let drawn = c.draw(2, &BTreeSet::new(), &mut ChaCha8Rng::seed_from_u64(7));
        assert_eq!(drawn, [info(2, 0)]);
    }
    assert!(c.shunned(&info(1, 0).id));
    for i in 0..MAX_SHUNNED {
        let mut id = [0xee; 32];
        id[..8].copy_from_slice(&(i as u64).to_le_bytes());
        c.shun(PeerId(id));
    }
    assert!(!c.shunned(&info(1, 0).id), "forgotten, the oldest");
}

/// While short of links and no round is under way, a refill waits `refill`, doubling per
/// refill up to 16 times it; a lost neighbour makes the next one short again.
#[test]
fn refills_back_off_doubling_and_a_loss_resets_the_wait() {
    let mut c = Candidates::new(WAIT, REFILL, HashKeys::from_seed(0));
    c.schedule_refill(T0, false);
    assert_eq!(c.refill_at(), None, "not short");
    let mut waits = Vec::new();
    for _ in 0..6 {
        c.schedule_refill(T0, true);
        c.schedule_refill(T0, true);
        waits.push(c.refill_at().map(|t| t.since(T0).as_secs()));
        c.take_refill();
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 16].map(Some));
    c.lost_one();
    c.ask(T0);
    c.schedule_refill(T0, true);
    assert_eq!(c.refill_at(), None, "a round is under way");
    c.merge(info(9, 0).id);
    c.schedule_refill(T0, true);
    assert_eq!(c.refill_at(), Some(T0 + REFILL), "the shortest wait again");
}
