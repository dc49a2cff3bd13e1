//! Tests of a peer's seeds: one input, the exact decision.

use super::*;
use crate::config::Config;
use crate::id::Keypair;

const T0: Time = Time(1_000_000);
const RETRY: Duration = Duration::from_millis(250);

fn seeds(text: &str) -> Seeds {
    let config = Config::parse("config.txt", text).expect("a valid config");
    Seeds::new(&config, vec![2, 0, 1], RETRY)
}

fn remote(role: Role, key: u8, addr: &str) -> Remote {
    let addr = addr.parse().unwrap();
    Remote {
        id: Keypair::from_secret([key; 32]).id(),
        role,
        addr,
        source: addr,
    }
}

const THREE: &str = "127.0.0.1:6000\n127.0.0.1:6001\n127.0.0.1:6002";

/// A quorum (2 of 3) is kept linked or being dialled, in the peer's order, and a failed
/// seed waits a backoff that doubles per failure in a row.
#[test]
fn a_quorum_is_dialled_in_order_and_a_failed_seed_backs_off_doubling() {
    let mut s = seeds(THREE);
    assert_eq!(s.to_dial(T0, 0, |_| false), [2, 0]);
    assert_eq!(s.to_dial(T0, 1, |i| i == 2), [0], "one dial in flight");
    s.failed(T0, 2);
    assert_eq!(s.to_dial(T0, 0, |_| false), [0, 1], "2 backs off");
    assert_eq!(s.deadline(), Some(T0 + RETRY));
    s.failed(T0, 2);
    assert_eq!(s.deadline(), Some(T0 + 2 * RETRY), "doubled");
    s.expire(T0 + 2 * RETRY);
    assert_eq!(s.to_dial(T0 + 2 * RETRY, 0, |_| false), [2, 0]);
    assert_eq!(backoff(RETRY, 9), 32 * RETRY, "at most 32 times");
}

/// A seed link counts once the node there proves to be that seed; the registration goes to
/// each linked seed once a quorum is up, again only to one that refused or reconnected.
#[test]
fn the_registration_goes_to_each_linked_seed_once_a_quorum_is_up() {
    let mut s = seeds(THREE);
    let (a, b) = (
        remote(Role::Seed, 1, "127.0.0.1:6002"),
        remote(Role::Seed, 2, "127.0.0.1:6000"),
    );
    assert_eq!(s.connected(2, LinkId(7), &a), Ok(()));
    assert_eq!(
        s.registrations_due(),
        Vec::<LinkId>::new(),
        "1 of a quorum of 2"
    );
    assert_eq!(s.connected(0, LinkId(8), &b), Ok(()));
    assert_eq!(
        s.registrations_due(),
        [LinkId(8), LinkId(7)],
        "by config index"
    );
    assert_eq!(s.registrations_due(), Vec::<LinkId>::new(), "once");
    assert_eq!(s.refused(LinkId(7)), Some(2));
    assert_eq!(s.registrations_due(), [LinkId(7)]);
    assert_eq!(s.set().keys.len(), 2);
    assert_eq!(s.dropped(T0, LinkId(8)), Some(0));
    assert!(s.short());
    assert_eq!(s.deadline(), Some(T0 + RETRY), "dialled again after retry");
    assert_eq!(s.dropped(T0, LinkId(99)), None, "not a seed link");
}

/// A node that is not the configured seed (a peer there, or another key than the one
/// learned or pinned) is not taken for it.
#[test]
fn a_node_that_is_not_the_configured_seed_is_refused() {
    let pinned = Keypair::from_secret([1; 32]).id().to_hex();
    let mut s = seeds(&format!(
        "127.0.0.1:6000 {pinned}\n127.0.0.1:6001\n127.0.0.1:6002"
    ));
    let impostor = remote(Role::Seed, 9, "127.0.0.1:6000");
    assert_eq!(
        s.connected(0, LinkId(1), &impostor),
        Err("127.0.0.1:6000 is not the seed of the config (its key differs)".into())
    );
    assert!(!s.key_learned(0, &impostor));
    assert!(!s.key_learned(1, &remote(Role::Peer, 3, "127.0.0.1:6001")));
    assert_eq!(s.keys_unknown(), [1, 2]);
    assert!(s.key_learned(1, &remote(Role::Seed, 3, "127.0.0.1:6001")));
    assert_eq!(s.keys_unknown(), [2]);
    assert_eq!(s.linked(), 0);
}
