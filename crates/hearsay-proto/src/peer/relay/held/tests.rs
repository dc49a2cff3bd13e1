use super::*;

fn id(n: u8) -> MsgId {
    MsgId([n; 32])
}

/// Held in holds of 100 ms, links 7 and 8 up at 0.
fn held() -> HeldHaves {
    let mut h = HeldHaves::new(Duration::from_millis(100));
    h.link_up(Time(0), LinkId(7));
    h.link_up(Time(0), LinkId(8));
    h
}

fn hold(h: &mut HeldHaves, now: u64, link: u64, n: u8, holds: u32) {
    h.hold(Time(now), LinkId(link), id(n), holds);
}

fn ready(h: &mut HeldHaves, now: u64, going: &[u64]) -> Vec<(u64, u8)> {
    let going: Vec<LinkId> = going.iter().map(|&l| LinkId(l)).collect();
    let mut out = Vec::new();
    h.take_ready(Time(now), &going, |l, id| out.push((l.0, id.0[0])));
    out
}

fn due(h: &mut HeldHaves, now: u64) -> Vec<(u64, u8)> {
    let mut out = Vec::new();
    h.take_due(Time(now), |l, id| out.push((l.0, id.0[0])));
    out
}

/// A young link's announcement is ready after its holds and due at the next tick of the
/// hold; a link up for 20 holds waits twice as many, at ticks of twice the hold, and four
/// times once up for 40.
#[test]
fn an_announcement_waits_longer_on_an_older_link() {
    let mut h = held();
    hold(&mut h, 10, 7, 1, 1);
    assert_eq!(
        h.deadline(),
        Some(Time(200)),
        "ready at 110, the tick after"
    );
    assert_eq!(ready(&mut h, 109, &[7]), []);
    assert_eq!(ready(&mut h, 110, &[7]), [(7, 1)]);
    hold(&mut h, 2_050, 7, 2, 1);
    assert_eq!(
        h.deadline(),
        Some(Time(2_400)),
        "two holds, then a tick of two"
    );
    assert_eq!(ready(&mut h, 2_149, &[7]), [], "ready after its one hold");
    assert_eq!(ready(&mut h, 2_150, &[7]), [(7, 2)]);
    hold(&mut h, 4_000, 7, 3, 2);
    assert_eq!(
        h.deadline(),
        Some(Time(4_800)),
        "eight holds, then a tick of four"
    );
    assert_eq!(due(&mut h, 4_799), []);
    assert_eq!(due(&mut h, 4_800), [(7, 3)]);
    assert!(h.is_empty());
}

/// Other gossip to a link takes what is ready for it, and only that: kind by kind, each in
/// the order held, whichever link it is for; what is left falls due as before.
#[test]
fn gossip_to_a_link_takes_only_its_ready_announcements_kind_by_kind() {
    let mut h = held();
    hold(&mut h, 10, 7, 1, 2); // young, held twice: ready 210, due 300
    hold(&mut h, 10, 8, 2, 2);
    hold(&mut h, 20, 7, 3, 1); // young, held once: ready 120, due 200
    hold(&mut h, 2_000, 7, 4, 2); // settled, held twice: ready 2,200, due 2,400
    hold(&mut h, 2_000, 8, 5, 2);
    hold(&mut h, 2_100, 7, 6, 2); // ready 2,300, due 2,600
    hold(&mut h, 2_150, 8, 7, 2); // ready 2,350, due 2,600
    assert_eq!(h.deadline(), Some(Time(200)));
    // Link 8 gets nothing; of link 7's, 3 (held once) before 1, held before it, then 4.
    assert_eq!(ready(&mut h, 2_250, &[7, 9]), [(7, 3), (7, 1), (7, 4)]);
    assert_eq!(ready(&mut h, 2_250, &[7]), [], "taken once");
    assert_eq!(
        h.deadline(),
        Some(Time(300)),
        "3 and 1 went: 2 is the first"
    );
    assert_eq!(due(&mut h, 300), [(8, 2)]);
    assert_eq!(
        ready(&mut h, 2_300, &[7, 8]),
        [(8, 5), (7, 6)],
        "in the order held"
    );
    assert_eq!(
        h.deadline(),
        Some(Time(2_600)),
        "4, 5 and 6 went: 7 is the first"
    );
    assert_eq!(
        due(&mut h, 2_600),
        [(8, 7)],
        "what went with gossip is not due again"
    );
    assert!(h.is_empty());
    assert_eq!(h.deadline(), None);
}

/// The deadline is the first announcement still held: one that went with other gossip
/// wakes nobody.
#[test]
fn the_deadline_skips_what_went_with_other_gossip() {
    let mut h = held();
    hold(&mut h, 10, 7, 1, 1);
    hold(&mut h, 20, 8, 2, 2);
    assert_eq!(h.deadline(), Some(Time(200)));
    assert_eq!(ready(&mut h, 150, &[7]), [(7, 1)]);
    assert_eq!(h.deadline(), Some(Time(300)));
    assert_eq!(ready(&mut h, 250, &[8]), [(8, 2)]);
    assert_eq!(h.deadline(), None);
    assert!(h.is_empty());
    assert_eq!(due(&mut h, 10_000), []);
}

/// A closed link's announcements are dropped and counted; a new link under the same id
/// starts afresh, young, and nothing of the old one falls due on it.
#[test]
fn a_closed_link_drops_its_announcements_and_a_new_one_starts_afresh() {
    let mut h = held();
    hold(&mut h, 3_000, 7, 1, 2);
    hold(&mut h, 3_000, 7, 2, 1);
    hold(&mut h, 3_000, 8, 3, 2);
    assert_eq!(h.link_closed(LinkId(7)), 2);
    assert_eq!(h.link_closed(LinkId(7)), 0);
    assert_eq!(h.deadline(), Some(Time(3_400)));
    h.link_up(Time(3_050), LinkId(7));
    hold(&mut h, 3_060, 7, 4, 1);
    assert_eq!(
        h.deadline(),
        Some(Time(3_200)),
        "a young link's hold and tick"
    );
    assert_eq!(due(&mut h, 3_400), [(7, 4), (8, 3)]);
    assert!(h.is_empty());
}
