use super::*;
use crate::cert::Op;
use crate::id::Keypair;
use std::net::SocketAddr;
use std::time::Duration;

const T: Time = Time(10_000);

fn change(i: u8) -> Change {
    Change {
        op: Op::Add,
        peer: Keypair::from_secret([i; 32]).id(),
        addr: SocketAddr::from(([10, 0, 0, i], 7000)),
        incarnation: 1,
    }
}

fn coordination(i: u8, waiter: Option<LinkId>, deadline: Time) -> (Digest, Coordination) {
    let c = Coordination {
        change: change(i),
        waiters: waiter.into_iter().collect(),
        tally: Tally::new(3),
        yes: Vec::new(),
        no: Vec::new(),
        deadline,
    };
    (change(i).digest(), c)
}

fn validation(i: u8, network: Option<IpAddr>, deadline: Time) -> (Digest, Validation) {
    let v = Validation {
        change: change(i),
        replies: vec![Reply::Local],
        deadline,
        network,
        reporter: None,
        evidence_error: None,
    };
    (change(i).digest(), v)
}

#[test]
fn a_waiting_link_is_registering_until_every_decision_it_waits_for_ends() {
    let mut p = Pending::default();
    let (a, b) = (
        coordination(1, Some(LinkId(7)), T),
        coordination(2, None, T),
    );
    let (da, db) = (a.0, b.0);
    p.coordinate(a.0, a.1);
    p.coordinate(b.0, b.1);
    assert!(p.registering(LinkId(7)));
    // Joins the second decision, and again (counted once).
    assert!(p.join(db, Some(LinkId(7))));
    assert!(p.join(db, Some(LinkId(7))));
    assert!(
        !p.join(change(3).digest(), Some(LinkId(7))),
        "not coordinated here"
    );
    assert_eq!(p.coordinating(), 2);
    let ended = p.end_coordination(&da).expect("coordinated");
    assert_eq!(ended.waiters, [LinkId(7)]);
    assert!(p.registering(LinkId(7)), "still waits for the second");
    assert_eq!(
        p.end_coordination(&db).map(|c| c.waiters),
        Some(vec![LinkId(7)])
    );
    assert!(!p.registering(LinkId(7)));
    assert!(p.end_coordination(&db).is_none());
    assert_eq!((p.coordinating(), p.next_deadline()), (0, None));
}

#[test]
fn at_most_sixteen_links_wait_for_one_decision() {
    let mut p = Pending::default();
    let (d, c) = coordination(1, None, T);
    p.coordinate(d, c);
    for l in 0..20 {
        p.join(d, Some(LinkId(l)));
    }
    assert!(p.registering(LinkId(15)));
    assert!(!p.registering(LinkId(16)));
    assert_eq!(p.coordination(&d).map(|c| c.waiters.len()), Some(16));
}

#[test]
fn registrations_are_counted_by_network_while_under_validation() {
    let mut p = Pending::default();
    let net: IpAddr = "10.0.0.0".parse().unwrap();
    let (a, b) = (validation(1, Some(net), T), validation(2, Some(net), T));
    let (da, db) = (a.0, b.0);
    p.validate(a.0, a.1);
    p.validate(b.0, b.1);
    let (removal, _) = validation(3, None, T);
    assert_eq!((p.registrations_from(net), p.validating()), (2, 2));
    p.end_validation(&da);
    assert_eq!(p.registrations_from(net), 1);
    p.end_validation(&db);
    assert_eq!(p.registrations_from(net), 0);
    assert!(p.end_validation(&removal).is_none());
}

#[test]
fn a_vote_goes_to_each_coordinator_once_and_to_at_most_so_many() {
    let mut p = Pending::default();
    let (d, v) = validation(1, None, T);
    p.validate(d, v);
    for reply in [Reply::Link(LinkId(1)), Reply::Local, Reply::Link(LinkId(2))] {
        assert!(p.reply_too(&d, reply, 3));
    }
    assert!(p.reply_too(&d, Reply::Link(LinkId(3)), 3));
    assert!(!p.reply_too(&change(9).digest(), Reply::Local, 3));
    let v = p.end_validation(&d).expect("validated");
    let l = |n| Reply::Link(LinkId(n));
    assert_eq!(v.replies, [Reply::Local, l(1), l(2)]);
}

#[test]
fn late_proposals_come_in_digest_order_coordinated_apart_from_validated() {
    let mut p = Pending::default();
    let s = Duration::from_secs(1);
    let mut coordinated = Vec::new();
    for (i, at) in [(1, T + s), (2, T), (3, T + s * 5)] {
        let (d, c) = coordination(i, None, at);
        coordinated.push(d);
        p.coordinate(d, c);
    }
    let (dv, v) = validation(4, None, T);
    p.validate(dv, v);
    assert_eq!(p.next_deadline(), Some(T));
    let mut due = coordinated[..2].to_vec();
    due.sort_unstable();
    assert_eq!(p.late(T + s, true), due);
    assert_eq!(p.late(T + s, false), [dv]);
    assert_eq!(p.late(T - s, true), []);
    p.end_coordination(&coordinated[1]);
    p.end_validation(&dv);
    assert_eq!(p.next_deadline(), Some(T + s));
}
