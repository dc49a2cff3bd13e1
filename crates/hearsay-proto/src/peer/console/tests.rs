//! Tests of the operator's console commands (SPEC §7).

use crate::testkit::*;

/// Issue 5: a peer answers its operator's short commands, as the task's write-ups describe.
#[test]
fn a_peer_answers_peers_messages_and_help() {
    let (mut net, p, [l5, ..]) = peer_with_three_neighbours();
    let reply = |net: &mut Net, line: &str| -> String {
        let outs = net.inject(p, Input::Command { line: line.into() });
        match &outs[..] {
            [Output::Reply(text)] => text.clone(),
            other => panic!("{line}: {other:?}"),
        }
    };
    let peers = reply(&mut net, "peers");
    assert!(peers.starts_with("3 neighbours"), "{peers}");
    for i in 5..8 {
        assert!(peers.contains(&peer_key(i).id().to_string()), "{peers}");
    }
    assert_eq!(reply(&mut net, "1"), peers);
    let g = gossip_of(9, net.now, 1);
    net.inject(
        p,
        Input::Frame {
            link: l5,
            msg: Msg::Gossip(Box::new(g.clone())),
        },
    );
    let messages = reply(&mut net, "messages");
    assert!(
        messages.contains(&g.text) && messages.contains("received 1"),
        "{messages}"
    );
    assert!(
        messages.contains(&format!("from {}", peer_addr(5))),
        "{messages}"
    );
    assert_eq!(reply(&mut net, "2"), messages);
    assert!(reply(&mut net, "help").contains("messages, 2"));
    assert!(reply(&mut net, "bogus").starts_with("unknown command"));
}
