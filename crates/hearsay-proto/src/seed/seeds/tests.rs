use super::*;
use crate::id::Keypair;

const T: Time = Time(1_000);
const RETRY: Duration = Duration::from_millis(500);

fn id(i: u8) -> PeerId {
    Keypair::from_secret([i; 32]).id()
}

/// Three seeds; the config pins seed 2's key.
fn config() -> Config {
    let text = format!(
        "127.0.0.1:6000\n127.0.0.1:6001\n127.0.0.1:6002 {}\n",
        id(3).to_hex()
    );
    Config::parse("config.txt", &text).unwrap()
}

fn seeds() -> Seeds {
    Seeds::new(&config(), 0, id(1), T, RETRY).unwrap()
}

#[test]
fn a_seed_knows_its_own_key_and_the_pinned_ones_and_refuses_another_pin_of_its_own() {
    let s = seeds();
    assert_eq!(s.keys().collect::<Vec<_>>(), [id(1), id(3)]);
    assert_eq!((s.index_of(id(3)), s.index_of(id(2))), (Some(2), None));
    assert!(s.knows(&id(1)) && !s.knows(&id(2)));
    assert_eq!(s.others().collect::<Vec<_>>(), [1, 2]);
    let wrong = Seeds::new(&config(), 2, id(9), T, RETRY);
    assert_eq!(wrong.err(), Some(id(3)));
}

#[test]
fn a_key_is_learned_first_hand_and_a_stored_one_never_beats_a_pin_or_its_own() {
    let mut s = seeds();
    assert!(s.learn(1, id(2)));
    assert!(!s.learn(1, id(2)), "already held: nothing to persist");
    s.restore(2, id(8));
    s.restore(0, id(8));
    assert_eq!((s.key(0), s.key(2)), (Some(id(1)), Some(id(3))));
    let mut fresh = seeds();
    fresh.restore(1, id(2));
    assert_eq!(fresh.key(1), Some(id(2)));
}

#[test]
fn every_other_seed_is_dialled_at_once_and_a_lost_one_after_the_retry() {
    let mut s = seeds();
    assert_eq!(s.deadline(), Some(T));
    assert_eq!(s.due(T), [1, 2]);
    assert_eq!((s.due(T), s.deadline()), (vec![], None));
    s.connected(1, LinkId(7));
    s.failed(2, T);
    assert_eq!(
        (s.own_link(1), s.own_links()),
        (Some(LinkId(7)), vec![LinkId(7)])
    );
    assert_eq!(s.lost(LinkId(8), T), None, "not a link of its own");
    assert_eq!(s.lost(LinkId(7), T + RETRY), Some(1));
    assert_eq!(s.own_link(1), None);
    assert_eq!(s.deadline(), Some(T + RETRY));
    assert_eq!(s.due(T + RETRY), [2]);
    assert_eq!(s.due(T + RETRY * 2), [1]);
}

#[test]
fn a_seed_that_links_in_while_it_waits_to_be_dialled_is_dialled_sooner() {
    let mut s = seeds();
    s.due(T);
    assert!(!s.dial_sooner(1, T), "already dialling, not waiting");
    s.failed(1, T);
    assert!(s.dial_sooner(1, T + Duration::from_millis(10)));
    assert_eq!(s.due(T + Duration::from_millis(10)), [1]);
    s.connected(2, LinkId(3));
    assert!(!s.dial_sooner(2, T), "linked already");
}
