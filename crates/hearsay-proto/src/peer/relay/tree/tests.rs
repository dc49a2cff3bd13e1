//! Tests of the push trees (PROTOCOL §11.7): the token, grafts and prunes, the bounds.

use std::collections::VecDeque;

use super::{Ctl, Tree, MAX_TREE};
use crate::id::PeerId;
use crate::node::LinkId;
use crate::sig::HashKeys;

const LINK: LinkId = LinkId(7);

fn id(n: u8) -> PeerId {
    PeerId([n; 32])
}

/// Two ends of one link: `a` dialled it (and holds every token at first), `b` accepted it.
/// Their trees grow from an origin's second message, as the relay's tests of the first
/// message show apart.
fn ends() -> (Tree, Tree) {
    let (mut a, mut b) = (
        Tree::new(HashKeys::from_seed(1), false),
        Tree::new(HashKeys::from_seed(2), false),
    );
    a.link_up(LINK, id(2), true);
    b.link_up(LINK, id(1), false);
    (a, b)
}

/// Hands a control message to the other end, as the peer does.
fn deliver(to: &mut Tree, ctl: Ctl) {
    match ctl {
        Ctl::Graft { origin, token } => to.on_graft(LINK, origin, token, true),
        Ctl::Prune { origin } => to.on_prune(LINK, origin),
    }
}

/// The links `origin`'s messages are pushed on.
fn children(t: &Tree, origin: &PeerId) -> Vec<LinkId> {
    (t.origins.get(origin)).map_or(Vec::new(), |s| super::pushed_on(s).to_vec())
}

fn pushes(t: &Tree, origin: u8) -> bool {
    children(t, &id(origin)).contains(&LINK)
}

/// The graft a first receipt makes, of an origin relayed here before.
fn delivered(t: &mut Tree, origin: PeerId, link: LinkId, pulled: bool) -> Option<Ctl> {
    t.first_receipt(origin, link, pulled, true).graft
}

/// Whether `t` asked the neighbour at `LINK` to push `origin`.
fn asked(t: &Tree, origin: u8) -> bool {
    t.state(&id(origin), LINK) & super::ASKED != 0
}

/// The end that accepted a link asks for an origin: the dialling end, which holds the
/// token, pushes to it. Then the dialling end asks in turn: the token goes with its graft,
/// it stops pushing at once, and the other end pushes instead.
#[test]
fn the_token_moves_only_inside_a_graft_and_its_old_holder_stops_pushing_first() {
    let (mut a, mut b) = ends();
    let o = 9;
    assert!(!pushes(&a, o) && !pushes(&b, o), "nobody pushes unasked");

    let graft = delivered(&mut b, id(o), LINK, false);
    assert_eq!(
        graft,
        Some(Ctl::Graft {
            origin: id(o),
            token: false
        })
    );
    assert_eq!(delivered(&mut b, id(o), LINK, true), None, "asked once");
    deliver(&mut a, graft.unwrap());
    assert!(pushes(&a, o) && !pushes(&b, o));
    assert!(asked(&b, o));

    let graft = delivered(&mut a, id(o), LINK, true);
    assert_eq!(
        graft,
        Some(Ctl::Graft {
            origin: id(o),
            token: true
        })
    );
    assert!(
        !pushes(&a, o),
        "no longer pushing once the token is on its way"
    );
    deliver(&mut b, graft.unwrap());
    assert!(pushes(&b, o) && !pushes(&a, o));
    assert!(!asked(&b, o), "what b asked is void");
}

/// Both ends ask each other at once: the one holding the token hands it over and stops;
/// the other's request, arriving where no token is, is void. One end pushes.
#[test]
fn crossing_grafts_leave_one_end_pushing() {
    let (mut a, mut b) = ends();
    let o = 3;
    let from_a = delivered(&mut a, id(o), LINK, true).unwrap();
    let from_b = delivered(&mut b, id(o), LINK, true).unwrap();
    assert_eq!(
        from_a,
        Ctl::Graft {
            origin: id(o),
            token: true
        }
    );
    assert_eq!(
        from_b,
        Ctl::Graft {
            origin: id(o),
            token: false
        }
    );
    deliver(&mut a, from_b);
    deliver(&mut b, from_a);
    assert_eq!((pushes(&a, o), pushes(&b, o)), (false, true));
}

/// A peer asks a second neighbour only when the message had to be requested; a copy from a
/// neighbour it asked is a slower branch, which it prunes once; a prune stops the pushes.
#[test]
fn a_copy_from_a_neighbour_asked_prunes_it_and_a_prune_stops_the_pushes() {
    let (mut a, mut b) = ends();
    let other = LinkId(8);
    b.link_up(other, id(5), true);
    let o = 4;
    deliver(&mut a, delivered(&mut b, id(o), LINK, false).unwrap());
    assert_eq!(
        delivered(&mut b, id(o), other, false),
        None,
        "one neighbour asked already"
    );
    assert!(
        delivered(&mut b, id(o), other, true).is_some(),
        "requested: ask that one too"
    );

    assert_eq!(b.duplicate(id(o), LINK), Some(Ctl::Prune { origin: id(o) }));
    assert_eq!(b.duplicate(id(o), LINK), None, "pruned once");
    assert_eq!(b.duplicate(id(6), LINK), None, "never asked");
    assert!(pushes(&a, o));
    deliver(&mut a, Ctl::Prune { origin: id(o) });
    assert!(!pushes(&a, o));
    assert_eq!(children(&a, &id(o)).len(), 0);
}

/// The origin sends its messages to every neighbour: nobody asks it to. Its message is
/// along the tree where this peer pushes it on.
#[test]
fn nobody_asks_the_origin_itself() {
    let (_, mut b) = ends();
    let other = LinkId(8);
    b.link_up(other, id(5), true);
    b.on_graft(other, id(1), false, true);
    let r = b.first_receipt(id(1), LINK, true, true);
    assert_eq!(r.graft, None);
    assert!(!asked(&b, 1));
    assert_eq!((r.children.as_slice(), r.along_tree), (&[other][..], true));
    let r = b.first_receipt(id(2), LINK, true, true);
    assert!(
        !r.along_tree,
        "from a neighbour not asked: not along the tree"
    );
}

/// Many random interleavings of grafts, prunes and deliveries on one link, each way in
/// order: at no moment are two tokens for one origin held or in flight, and an end pushes
/// only where it holds the token.
#[test]
fn at_no_moment_do_two_ends_hold_or_send_one_origins_token() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut draw = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..200 {
        let (mut a, mut b) = ends();
        // In flight: to b, to a.
        let mut wires: [VecDeque<Ctl>; 2] = Default::default();
        for _ in 0..200 {
            let o = draw(2) as u8 + 10;
            let (me, wire_out, wire_in) = match draw(2) {
                0 => (&mut a, 0, 1),
                _ => (&mut b, 1, 0),
            };
            let ctl = match draw(4) {
                0 => delivered(me, id(o), LINK, draw(2) == 0),
                1 => me.duplicate(id(o), LINK),
                _ => {
                    if let Some(c) = wires[wire_in].pop_front() {
                        deliver(me, c);
                    }
                    None
                }
            };
            wires[wire_out].extend(ctl);
            for o in [10, 11] {
                let held = |t: &Tree| t.state(&id(o), LINK) & super::TOKEN != 0;
                let flying = (wires.iter().flatten())
                    .filter(|c| matches!(c, Ctl::Graft { origin, token: true } if *origin == id(o)))
                    .count();
                let tokens = usize::from(held(&a)) + usize::from(held(&b)) + flying;
                assert!(tokens <= 1, "{tokens} tokens for one origin");
                assert!(!pushes(&a, o) || held(&a));
                assert!(!pushes(&b, o) || held(&b));
            }
        }
    }
}

/// Grafts for an origin this peer does not relay, or on a link that is not a neighbour's,
/// change nothing; state goes with its link; and at most [`MAX_TREE`] origins have state.
#[test]
fn the_tree_is_bounded_and_forgets_a_closed_link() {
    let (mut a, _) = ends();
    a.on_graft(LINK, id(1), false, false);
    a.on_graft(LinkId(99), id(1), false, true);
    assert!(a.origins.is_empty());

    let origin = |n: usize| {
        let mut bytes = [0; 32];
        bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
        PeerId(bytes)
    };
    for n in 0..MAX_TREE + 5 {
        a.on_graft(LINK, origin(n), false, true);
    }
    assert_eq!(a.origins.len(), MAX_TREE);
    assert!(
        children(&a, &origin(MAX_TREE + 1)).is_empty(),
        "past the bound: not pushed"
    );
    assert_eq!(
        delivered(&mut a, origin(MAX_TREE + 1), LINK, true),
        None,
        "nor asked for"
    );
    assert_eq!(children(&a, &origin(0)).as_slice(), [LINK]);

    a.link_closed(LINK);
    assert!(a.origins.is_empty());
    assert!(children(&a, &origin(0)).is_empty());
}

/// An origin's first two announcements on a link go at once (the neighbour asks someone to
/// push the origin from its second message on), unless the neighbour asked this end to push
/// it; later ones along the tree wait one hold on
/// a link this end dialled, two on the others; none waits off the tree, and an origin's
/// first message here marks nothing.
#[test]
fn the_first_announcements_of_an_origin_on_a_link_are_marked() {
    let (mut a, _) = ends();
    let other = LinkId(8);
    a.link_up(other, id(5), false);
    let tree = (true, true);
    let both = || vec![LINK, other];
    assert_eq!(
        a.announcing((id(3), id(3)), both(), tree),
        [(LINK, 0), (other, 0)]
    );
    assert_eq!(
        a.announcing((id(3), id(3)), both(), tree),
        [(LINK, 0), (other, 0)]
    );
    assert_eq!(
        a.announcing((id(3), id(3)), both(), tree),
        [(LINK, 1), (other, 2)]
    );
    assert_eq!(
        a.announcing((id(3), id(3)), vec![other], (false, true)),
        [(other, 0)]
    );
    assert_eq!(
        a.announcing((id(4), id(4)), vec![other], tree),
        [(other, 0)]
    );
    assert_eq!(
        a.announcing((id(6), id(6)), vec![other], (true, false)),
        [(other, 0)]
    );
    assert_eq!(
        a.announcing((id(6), id(6)), vec![other], tree),
        [(other, 0)]
    );
    assert_eq!(
        a.announcing((id(6), id(6)), vec![other], tree),
        [(other, 0)]
    );
    assert_eq!(
        a.announcing((id(6), id(6)), vec![other], tree),
        [(other, 2)]
    );
    a.on_graft(other, id(7), false, true);
    assert_eq!(
        a.announcing((id(7), id(7)), vec![other], tree),
        [(other, 2)],
        "it asked: it has a tree"
    );
}

/// Where trees grow from an origin's first message: its first receipt asks the neighbour
/// that delivered it, and one announcement tells a neighbour enough (it grew its tree on its
/// own first receipt), so the next waits.
#[test]
fn where_trees_grow_from_the_first_message_one_announcement_tells() {
    let mut a = Tree::new(HashKeys::from_seed(1), true);
    a.link_up(LINK, id(2), true);
    let other = LinkId(8);
    a.link_up(other, id(5), false);
    let grow = a.grows(|| false);
    assert!(grow, "the origin's first message grows its tree");
    let first = a.first_receipt(id(3), other, false, grow);
    assert_eq!(
        first.graft,
        Some(Ctl::Graft {
            origin: id(3),
            token: false
        })
    );
    let tree = (true, grow);
    assert_eq!(a.announcing((id(3), id(3)), vec![LINK], tree), [(LINK, 0)]);
    assert_eq!(a.announcing((id(3), id(3)), vec![LINK], tree), [(LINK, 1)]);
    assert_eq!(
        a.announcing((id(4), id(4)), vec![other], tree),
        [(other, 0)]
    );
    assert_eq!(
        a.announcing((id(4), id(4)), vec![other], tree),
        [(other, 2)]
    );
}
