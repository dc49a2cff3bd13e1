use super::*;

fn id(n: u8) -> MsgId {
    MsgId([n; 32])
}

/// Announcement `n` for link `link`, of `kind`, ready and due at those milliseconds.
fn held(n: u8, link: u64, kind: usize, (ready, due): (u64, u64)) -> Held {
    Held {
        kind,
        due: Time(due),
        ready: Time(ready),
        link: LinkId(link),
        id: id(n),
    }
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

/// Other gossip to a link takes what is ready for it, and only that: kind by kind, each in
/// the order held, whichever link it is for; what is left falls due as before.
#[test]
fn gossip_to_a_link_takes_only_its_ready_announcements_kind_by_kind() {
    let mut h = HeldHaves::default();
    // Link 7 young (kinds 0 and 1), then older (kind 3); link 8 likewise.
    h.hold(held(1, 7, 1, (100, 200)));
    h.hold(held(2, 8, 1, (100, 200)));
    h.hold(held(3, 7, 0, (90, 150)));
    h.hold(held(4, 7, 3, (150, 400)));
    h.hold(held(5, 8, 3, (100, 400)));
    h.hold(held(6, 7, 3, (300, 400)));
    h.hold(held(7, 8, 3, (350, 400)));
    assert_eq!(h.deadline(), Some(Time(150)));
    // Link 8 gets nothing; of link 7's, kind 0 before kind 1, held before it, then kind 3.
    assert_eq!(ready(&mut h, 160, &[7, 9]), [(7, 3), (7, 1), (7, 4)]);
    assert_eq!(ready(&mut h, 160, &[7]), [], "taken once");
    assert_eq!(
        h.deadline(),
        Some(Time(200)),
        "kind 0's went: kind 1's next"
    );
    assert_eq!(due(&mut h, 200), [(8, 2)]);
    assert_eq!(
        ready(&mut h, 300, &[7, 8]),
        [(8, 5), (7, 6)],
        "in the order held"
    );
    assert_eq!(h.deadline(), Some(Time(400)));
    assert_eq!(
        due(&mut h, 400),
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
    let mut h = HeldHaves::default();
    h.hold(held(1, 7, 0, (50, 100)));
    h.hold(held(2, 8, 0, (60, 150)));
    assert_eq!(ready(&mut h, 60, &[7]), [(7, 1)]);
    assert_eq!(h.deadline(), Some(Time(150)));
    assert_eq!(ready(&mut h, 60, &[8]), [(8, 2)]);
    assert_eq!(h.deadline(), None);
    assert!(h.is_empty());
    assert_eq!(due(&mut h, 1_000), []);
}

/// A closed link's announcements are dropped and counted; a new link under the same id
/// starts afresh, and nothing of the old one falls due on it.
#[test]
fn a_closed_link_drops_its_announcements_and_a_new_one_starts_afresh() {
    let mut h = HeldHaves::default();
    h.hold(held(1, 7, 5, (100, 800)));
    h.hold(held(2, 7, 4, (50, 400)));
    h.hold(held(3, 8, 4, (50, 400)));
    assert_eq!(h.link_closed(LinkId(7)), 2);
    assert_eq!(h.link_closed(LinkId(7)), 0);
    assert_eq!(h.deadline(), Some(Time(400)));
    h.hold(held(4, 7, 0, (500, 600)));
    assert_eq!(due(&mut h, 800), [(7, 4), (8, 3)]);
    assert!(h.is_empty());
}
