use super::*;
use crate::id::Keypair;
use crate::link::Role;
use std::net::SocketAddr;

const T: Time = Time(1_000);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn links_are_numbered_in_pairs_and_each_end_knows_both_holders() {
    let mut links: Links<char> = Links::new();
    assert_eq!(links.open('a', 'b', T, ((), ())), (LinkId(1), LinkId(2)));
    assert_eq!(links.open('b', 'c', T, ((), ())), (LinkId(3), LinkId(4)));
    let end = |holder, to, other| End {
        holder,
        to,
        other: LinkId(other),
        busy_until: T,
        told: (),
    };
    assert_eq!(links.end(LinkId(1)), Some(&end('a', 'b', 2)));
    assert_eq!(links.end(LinkId(2)), Some(&end('b', 'a', 1)));
    assert_eq!(links.end(LinkId(4)), Some(&end('c', 'b', 3)));
    assert_eq!(links.held('b').collect::<Vec<_>>(), [LinkId(2), LinkId(3)]);
    assert_eq!(links.between('b', 'c'), Some(LinkId(3)));
    assert_eq!(links.between('c', 'a'), None);
    assert_eq!(links.len(), 4);
}

#[test]
fn a_frame_never_arrives_before_one_sent_earlier_on_its_link() {
    let mut links: Links<char> = Links::new();
    let (a, b) = links.open('a', 'b', T + ms(5), ((), ()));
    // Sent before the link is up: arrives when it is.
    assert_eq!(links.send(a, T, ms(1)), Some(('b', b, T + ms(5))));
    assert_eq!(links.send(a, T, ms(30)), Some(('b', b, T + ms(30))));
    // Faster, but behind the one before.
    assert_eq!(links.send(a, T + ms(2), ms(1)), Some(('b', b, T + ms(30))));
    assert_eq!(links.send(a, T + ms(40), ms(1)), Some(('b', b, T + ms(41))));
    // The other direction has its own order.
    assert_eq!(links.send(b, T + ms(6), ms(1)), Some(('a', a, T + ms(7))));
}

#[test]
fn a_close_removes_both_ends_and_nothing_more_is_sent() {
    let mut links: Links<char> = Links::new();
    let (a, b) = links.open('a', 'b', T, ((), ()));
    let (c, _) = links.open('a', 'c', T, ((), ()));
    let closed = links.close(b).expect("open");
    assert_eq!((closed.holder, closed.to, closed.other), ('b', 'a', a));
    assert_eq!(links.end(a), None);
    assert_eq!(links.send(a, T, ms(1)), None);
    assert_eq!(links.close(a), None);
    assert_eq!(links.held('a').collect::<Vec<_>>(), [c]);
    assert_eq!(links.held('b').count(), 0);
    assert_eq!(links.len(), 2);
}

#[test]
fn pairs_name_every_link_once_lower_number_first() {
    let mut links: Links<char> = Links::new();
    links.open('a', 'b', T, ((), ()));
    links.open('c', 'a', T, ((), ()));
    links.open('b', 'c', T, ((), ()));
    let l = LinkId;
    assert_eq!(
        links.pairs(),
        [
            (l(1), l(2), 'a', 'b'),
            (l(3), l(4), 'c', 'a'),
            (l(5), l(6), 'b', 'c'),
        ]
    );
    assert_eq!(
        links.pairs_of('a'),
        [(l(1), l(2), 'a', 'b'), (l(3), l(4), 'c', 'a')]
    );
}

#[test]
fn an_end_keeps_what_its_holder_was_told() {
    let mut links: Links<char, &str> = Links::new();
    let (a, b) = links.open('a', 'b', T, ("b is a seed", "a is a peer"));
    assert_eq!(links.end(a).map(|e| e.told), Some("b is a seed"));
    assert_eq!(links.end(b).map(|e| e.told), Some("a is a peer"));
}

#[test]
fn a_message_crosses_the_codec_and_a_dial_gives_both_ends_their_link_up() {
    assert_eq!(through_codec(&Msg::Ping(7)), Ok(Msg::Ping(7)));
    let remote = |i: u8, role| Remote {
        id: Keypair::from_secret([i; 32]).id(),
        role,
        addr: SocketAddr::from(([127, 0, 0, i], 7000)),
        source: SocketAddr::from(([127, 0, 0, i], 40_000)),
    };
    let (seed, peer) = (remote(1, Role::Seed), remote(2, Role::Peer));
    let ups = link_up((LinkId(1), seed), (LinkId(2), peer), DialToken(9));
    assert_eq!(
        ups,
        [
            Input::LinkUp {
                link: LinkId(1),
                remote: Box::new(seed),
                dial: Some(DialToken(9)),
            },
            Input::LinkUp {
                link: LinkId(2),
                remote: Box::new(peer),
                dial: None,
            },
        ]
    );
}
