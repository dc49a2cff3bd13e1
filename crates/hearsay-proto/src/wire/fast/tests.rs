use std::net::SocketAddr;
use std::sync::Arc;

use proptest::prelude::*;

use super::{decode, encode};
use crate::cert::{Certificate, Change, Op};
use crate::gossip::{Gossip, MsgId};
use crate::id::{PeerId, Signature};
use crate::wire::{self, Msg};

fn bytes32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn signature() -> impl Strategy<Value = Signature> {
    proptest::collection::vec(any::<u8>(), 64).prop_map(|b| Signature(b.try_into().unwrap()))
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    let v4 = (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| (ip, port).into());
    let v6 = (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| (ip, port).into());
    prop_oneof![v4, v6]
}

fn gossip() -> impl Strategy<Value = Gossip> {
    let change = (any::<bool>(), bytes32(), addr(), any::<u64>()).prop_map(
        |(add, peer, addr, incarnation)| Change {
            op: if add { Op::Add } else { Op::Remove },
            peer: PeerId(peer),
            addr,
            incarnation,
        },
    );
    let sigs = proptest::collection::vec((bytes32().prop_map(PeerId), signature()), 0..4);
    // Texts past 127 bytes take a two-byte length.
    (
        bytes32(),
        ".{0,150}",
        signature(),
        any::<u16>(),
        proptest::option::of(bytes32().prop_map(|b| Box::new(PeerId(b)))),
        change,
        sigs,
    )
        .prop_map(|(origin, text, sig, hops, via, change, sigs)| Gossip {
            origin: PeerId(origin),
            text,
            sig,
            hops,
            via,
            cert: Arc::new(Certificate { change, sigs }),
        })
}

/// Every message encoded here, with lists long enough for a two-byte length.
fn message() -> impl Strategy<Value = Msg> {
    let ids = || proptest::collection::vec(bytes32().prop_map(MsgId), 0..200);
    prop_oneof![
        gossip().prop_map(|g| Msg::Gossip(Box::new(g))),
        bytes32().prop_map(|id| Msg::Have(MsgId(id))),
        bytes32().prop_map(|id| Msg::Want(MsgId(id))),
        ids().prop_map(Msg::Haves),
        ids().prop_map(Msg::Wants),
    ]
}

/// postcard's reading of `bytes`, the reference.
fn postcard(bytes: &[u8]) -> Result<Msg, wire::DecodeError> {
    wire::decode::<Msg>(bytes)
}

/// What is decoded here is what postcard decodes, and the rest is left to it.
fn agrees(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Some(msg) = decode(bytes) {
        prop_assert_eq!(postcard(bytes), Ok(msg));
    }
    prop_assert_eq!(wire::decode_msg(bytes), postcard(bytes));
    Ok(())
}

proptest! {
    #[test]
    fn the_encoding_is_postcards_byte_for_byte_and_decodes_here(msg in message()) {
        let bytes = wire::encode(&msg);
        let mut here = Vec::new();
        prop_assert!(encode(&msg, &mut here));
        prop_assert_eq!(&here, &bytes);
        prop_assert_eq!(wire::encode_msg(&msg), bytes.clone());
        let (mut framed, mut framed_here) = (vec![7], vec![7]);
        wire::put_frame(&msg, &mut framed).unwrap();
        wire::put_msg(&msg, &mut framed_here).unwrap();
        prop_assert_eq!(framed_here, framed);
        prop_assert_eq!(decode(&bytes), Some(msg.clone()));
        prop_assert_eq!(wire::decode_msg(&bytes), Ok(msg));
    }

    #[test]
    fn damaged_encodings_decode_as_postcard_decodes_them(
        msg in message(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let bytes = wire::encode(&msg);
        let i = at.index(bytes.len());
        let mut changed = bytes.clone();
        changed[i] = byte;
        agrees(&changed)?;
        let mut inserted = bytes.clone();
        inserted.insert(i, byte);
        agrees(&inserted)?;
        agrees(&bytes[..i])?;
        let mut longer = bytes;
        longer.extend_from_slice(&tail);
        agrees(&longer)?;
    }

    #[test]
    fn arbitrary_bytes_decode_as_postcard_decodes_them(
        tag in prop::sample::select(vec![20u8, 21, 22, 29, 30]),
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&body);
        agrees(&bytes)?;
    }
}

/// A Gossip's encoding, with where its `hops` varint sits.
fn gossip_bytes(hops: u16) -> (Msg, Vec<u8>, usize) {
    let g = Gossip {
        origin: PeerId([1; 32]),
        text: "1796164458533:127.0.0.1:3".into(),
        sig: Signature([2; 64]),
        hops,
        via: None,
        cert: Arc::new(Certificate {
            change: Change {
                op: Op::Add,
                peer: PeerId([1; 32]),
                addr: "127.0.0.1:7001".parse().unwrap(),
                incarnation: 300,
            },
            sigs: vec![(PeerId([3; 32]), Signature([4; 64]))],
        }),
    };
    let at = 1 + 32 + 1 + g.text.len() + 1 + 64;
    let msg = Msg::Gossip(Box::new(g));
    (msg.clone(), wire::encode(&msg), at)
}

#[test]
fn a_longer_varint_than_postcard_writes_is_read_as_postcard_reads_it() {
    let (msg, bytes, at) = gossip_bytes(5);
    assert_eq!(bytes[at], 5);
    // 5 in two bytes and in three: postcard reads both.
    for long in [&[0x85, 0x00][..], &[0x85, 0x80, 0x00]] {
        let mut b = bytes.clone();
        b.splice(at..at + 1, long.iter().copied());
        assert_eq!(decode(&b), Some(msg.clone()));
        assert_eq!(postcard(&b), Ok(msg.clone()));
    }
}

#[test]
fn a_varint_over_its_type_is_refused_as_postcard_refuses_it() {
    let (_, bytes, at) = gossip_bytes(u16::MAX);
    // u16::MAX is [0xff, 0xff, 0x03]: a last byte over 3 is past 16 bits, and a fourth
    // byte past a u16's three.
    assert_eq!(bytes[at..at + 3], [0xff, 0xff, 0x03]);
    for bad in [&[0xff, 0xff, 0x04][..], &[0xff, 0xff, 0x83, 0x00]] {
        let mut b = bytes.clone();
        b.splice(at..at + 3, bad.iter().copied());
        assert_eq!(decode(&b), None);
        assert!(matches!(
            wire::decode_msg(&b),
            Err(wire::DecodeError::Malformed(_))
        ));
    }
}

#[test]
fn other_messages_are_left_to_postcard() {
    let mut out = Vec::new();
    for msg in [Msg::Ping(7), Msg::GetPeers, Msg::LinkAccepted] {
        assert!(!encode(&msg, &mut out));
        assert!(out.is_empty(), "nothing appended for {msg:?}");
        assert_eq!(decode(&wire::encode(&msg)), None);
        assert_eq!(wire::decode_msg(&wire::encode(&msg)), Ok(msg));
    }
}
