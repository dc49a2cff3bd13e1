//! Wire messages and their codec (SPEC §4, PROTOCOL §3–§4).
//!
//! Frames are a 4-byte big-endian length and a postcard body of at most [`MAX_FRAME`] bytes.
//! Decoding is a pure function that never panics on hostile bytes; the simulator round-trips
//! every message through it so codec bugs show up there too. The messages of every delivery
//! (`Gossip`, `Have`, `Want`, `Haves`, `Wants`) are encoded and decoded by hand ([`put_msg`],
//! [`decode_msg`]), to the same bytes and the same results as postcard's.

use std::net::SocketAddr;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::cert::{Certificate, NeighborReport, Proposal, Registration, Vote};
use crate::id::PeerId;

mod fast;

/// The largest frame body a node accepts or sends, in bytes.
pub const MAX_FRAME: usize = 1 << 20;

/// Most peers in one `PeerList` or `Status` page: keeps either well under [`MAX_FRAME`].
pub const MAX_LIST: usize = 2000;

/// Most message ids in one `Haves` or `Wants` frame (32 KiB of ids).
pub const MAX_IDS: usize = 1024;

/// Every message after the handshake.
///
/// Payloads over a few dozen bytes are boxed (the encoding is the same), so a `Msg` is small
/// to move and to queue: the pings, announcements and requests that make up most traffic
/// carry no more than they need, and a simulation holds millions of them in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// Peer → seed: admit me (PROTOCOL §6).
    Register(Box<Registration>),
    /// Peer → seed: send me your peer list (PROTOCOL §7).
    GetPeers,
    /// Peer → seed, and seed → seed: a peer's signed neighbour set (PROTOCOL §7).
    Neighbors(Box<NeighborReport>),
    /// Seed → peer: the certificate of its admission.
    Admitted(Box<Certificate>),
    /// Seed → peer: the registration failed.
    Refused {
        /// Why.
        reason: String,
    },
    /// Seed → peer: a sample of the Peer List, with degrees.
    PeerList(Vec<PeerInfo>),
    /// Seed → seed: please validate and vote (PROTOCOL §6).
    Propose(Box<Proposal>),
    /// Seed → coordinating seed: a signed vote.
    Vote(Box<Vote>),
    /// Seed → seed: a certificate to verify and apply.
    Commit(Box<Certificate>),
    /// Peer → peer: let us be neighbours; here is my admission (PROTOCOL §8).
    Link(Box<Certificate>),
    /// Peer → peer: accepted.
    LinkAccepted,
    /// Peer → peer: refused, and why.
    LinkRefused {
        /// Why.
        reason: String,
    },
    /// Peer → seed: a neighbour is dead, with the verdicts (PROTOCOL §12).
    DeadReport(Box<crate::suspicion::DeadReport>),
    /// Seed → peer: the certificate of this peer's removal.
    Removed(Box<Certificate>),
    /// Peer → seed: the neighbours of this peer, please (to pick witnesses).
    GetNeighbors(PeerId),
    /// Seed → peer: a peer's reported neighbours, with their addresses.
    NeighborsOf(Box<NeighborsOf>),
    /// Peer → peer: a liveness round's ping, with the sender's `ping_interval` in
    /// milliseconds (PROTOCOL §12.1).
    Ping(u64),
    /// Peer → peer: the answer to a `Ping` from a peer whose rounds are shorter than the
    /// answerer's (its own next ping might come too late for it), echoing the ping's number.
    Pong(u64),
    /// Peer → witness: probe this suspect and give me your verdict (PROTOCOL §12.2).
    ProbeRequest(Box<ProbeRequest>),
    /// Witness → peer: the signed answer to `ProbeRequest`.
    Verdict(Box<crate::suspicion::Verdict>),
    /// Peer → peer: a gossip message (PROTOCOL §11).
    Gossip(Box<crate::gossip::Gossip>),
    /// Peer → peer: "I have this message" (PROTOCOL §11.3).
    Have(crate::gossip::MsgId),
    /// Peer → peer: "send me this message", answering a `Have`.
    Want(crate::gossip::MsgId),
    /// Seed → seed: the summary of the certificates I hold (PROTOCOL §13).
    SyncRoot {
        /// The hash over my bucket hashes.
        root: crate::cert::Digest,
        /// An answer to a `SyncRoot` equal to this one: both sides record the agreement.
        reply: bool,
    },
    /// Seed → seed: my bucket hashes, answering a `SyncRoot` that differs from mine.
    SyncBuckets(Vec<crate::cert::Digest>),
    /// Seed → seed: send me your certificates in these buckets.
    SyncFetch(Vec<u8>),
    /// Seed → seed: certificates to verify and apply (a catch-up batch).
    Certificates(Vec<Certificate>),
    /// Client → seed: a page of status, from this offset into the Peer List (PROTOCOL §9).
    StatusRequest {
        /// First peer of the page.
        offset: u32,
    },
    /// Seed → client: one page of status.
    Status(Box<Status>),
    /// Peer → peer: several `Have`s in one frame, at most [`MAX_IDS`] (PROTOCOL §11.3).
    Haves(Vec<crate::gossip::MsgId>),
    /// Peer → peer: several `Want`s in one frame, at most [`MAX_IDS`].
    Wants(Vec<crate::gossip::MsgId>),
    /// Seed → peer: this member has no live neighbour by the seed's topology; treat it as a
    /// lost neighbour of yours (dial it each round, suspect it if it stays silent), so that
    /// a peer that died with its neighbours is still noticed (PROTOCOL §12.6).
    Watch(Box<ProbeRequest>),
    /// Peer → peer: my admission certificate, shown on a link that is not a neighbour's
    /// before a request that needs it (a witness's `ProbeRequest`, PROTOCOL §12.2).
    Admission(Box<Certificate>),
    /// Peer → peer: push these origins' messages to me; `true` hands over this end's token
    /// for that origin on the link (PROTOCOL §11.7). At most [`MAX_IDS`] origins.
    Graft(Vec<(PeerId, bool)>),
    /// Peer → peer: stop pushing these origins' messages to me. At most [`MAX_IDS`].
    Prune(Vec<PeerId>),
}

/// Seed → peer: a peer's reported neighbours, with their addresses (`Msg::NeighborsOf`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborsOf {
    /// The peer asked about.
    pub peer: PeerId,
    /// Its neighbours that are in the Peer List.
    pub neighbors: Vec<(PeerId, SocketAddr)>,
}

/// Peer → witness: probe this suspect (`Msg::ProbeRequest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// The suspect.
    pub suspect: PeerId,
    /// Its address.
    pub addr: SocketAddr,
    /// Its incarnation.
    pub incarnation: u64,
}

impl Msg {
    /// The message's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Register(_) => "Register",
            Msg::GetPeers => "GetPeers",
            Msg::Neighbors(_) => "Neighbors",
            Msg::Admitted(_) => "Admitted",
            Msg::Refused { .. } => "Refused",
            Msg::PeerList(_) => "PeerList",
            Msg::Propose(_) => "Propose",
            Msg::Vote(_) => "Vote",
            Msg::Commit(_) => "Commit",
            Msg::DeadReport(_) => "DeadReport",
            Msg::Removed(_) => "Removed",
            Msg::GetNeighbors(_) => "GetNeighbors",
            Msg::NeighborsOf(_) => "NeighborsOf",
            Msg::Ping(_) => "Ping",
            Msg::Pong(_) => "Pong",
            Msg::ProbeRequest(_) => "ProbeRequest",
            Msg::Verdict(_) => "Verdict",
            Msg::Gossip(_) => "Gossip",
            Msg::Have(_) => "Have",
            Msg::Want(_) => "Want",
            Msg::Link(_) => "Link",
            Msg::LinkAccepted => "LinkAccepted",
            Msg::LinkRefused { .. } => "LinkRefused",
            Msg::SyncRoot { .. } => "SyncRoot",
            Msg::SyncBuckets(_) => "SyncBuckets",
            Msg::SyncFetch(_) => "SyncFetch",
            Msg::Certificates(_) => "Certificates",
            Msg::StatusRequest { .. } => "StatusRequest",
            Msg::Status(_) => "Status",
            Msg::Watch(_) => "Watch",
            Msg::Admission(_) => "Admission",
            Msg::Haves(_) => "Haves",
            Msg::Wants(_) => "Wants",
            Msg::Graft(_) => "Graft",
            Msg::Prune(_) => "Prune",
        }
    }
}

/// One entry of a peer list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer.
    pub id: PeerId,
    /// Its address.
    pub addr: SocketAddr,
    /// The incarnation it was admitted with.
    pub incarnation: u64,
    /// Its degree in the seed's topology.
    pub degree: u32,
}

/// One page of a seed's status (PROTOCOL §9).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The seed's address.
    pub seed: SocketAddr,
    /// The seed's id.
    pub id: PeerId,
    /// Seeds in the config.
    pub seeds: u32,
    /// Votes needed for a certificate.
    pub quorum: u32,
    /// Peers in the Peer List in all.
    pub total: u32,
    /// This page's peers, in id order.
    pub peers: Vec<StatusPeer>,
    /// The latest decisions, newest last (first page only).
    pub recent: Vec<String>,
    /// Certificates held: admissions and removals.
    pub certificates: u32,
    /// Every other seed of the config, with how long ago this seed last found it held the
    /// same certificates (`None`: not yet).
    pub agreed: Vec<(SocketAddr, Option<u64>)>,
}

/// A peer as the status shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusPeer {
    /// The peer.
    pub id: PeerId,
    /// Its address.
    pub addr: SocketAddr,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its reported neighbours.
    pub neighbors: Vec<PeerId>,
    /// The seeds that signed its admission.
    pub signers: Vec<PeerId>,
}

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Longer than [`MAX_FRAME`].
    #[error("frame of {0} bytes is over the limit of {MAX_FRAME}")]
    TooLarge(usize),
    /// Not a valid encoding of the expected message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Valid, but followed by bytes that belong to nothing.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
}

/// Encodes a message body (without the length prefix).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Decodes a message body; rejects oversize bodies and trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_FRAME {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    Ok(value)
}

/// Bytes of a frame's length prefix.
pub const PREFIX: usize = 4;

/// Appends `value` to `out` as one frame (PROTOCOL §3): the 4-byte big-endian length, then
/// the body. A body over [`MAX_FRAME`] (or one that cannot be encoded) is not appended:
/// `out` is left as it was. A buffer kept and cleared between writes allocates nothing once
/// it has grown.
pub fn put_frame<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    put_with(out, |out| crate::sig::encode_into(value, out))
}

/// [`put_frame`] for a message: the same bytes, those of every delivery encoded by hand.
pub fn put_msg(msg: &Msg, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    put_with(out, |out| put_body(msg, out))
}

/// [`encode`] for a message, as [`put_msg`] encodes it.
pub fn encode_msg(msg: &Msg) -> Vec<u8> {
    let mut out = Vec::new();
    match put_body(msg, &mut out) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// Appends `msg`'s body: by hand for the messages of every delivery, by postcard otherwise.
fn put_body(msg: &Msg, out: &mut Vec<u8>) -> postcard::Result<()> {
    match fast::encode(msg, out) {
        true => Ok(()),
        false => crate::sig::encode_into(msg, out),
    }
}

/// [`decode`] for a message: the same result for any bytes, those of every delivery decoded
/// by hand.
pub fn decode_msg(bytes: &[u8]) -> Result<Msg, DecodeError> {
    if bytes.len() <= MAX_FRAME {
        if let Some(msg) = fast::decode(bytes) {
            return Ok(msg);
        }
    }
    decode(bytes)
}

/// Appends a frame whose body `body` appends (see [`put_frame`]).
fn put_with(
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> postcard::Result<()>,
) -> Result<(), DecodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; PREFIX]);
    let encoded = body(out);
    let len = out.len() - start - PREFIX;
    if let Err(e) = encoded {
        out.truncate(start);
        return Err(DecodeError::Malformed(e.to_string()));
    }
    if len > MAX_FRAME {
        out.truncate(start);
        return Err(DecodeError::TooLarge(len));
    }
    out[start..start + PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// The first whole frame's body in `buf`, as (body start, body end); `Ok(None)` while it
/// is still incomplete. A length over `max` is refused as soon as its prefix is in, so
/// nobody can make a node buffer more than `max` bytes for one frame.
pub fn next_frame(buf: &[u8], max: usize) -> Result<Option<(usize, usize)>, DecodeError> {
    let Some(prefix) = buf.get(..PREFIX) else {
        return Ok(None);
    };
    let mut len = [0; PREFIX];
    len.copy_from_slice(prefix);
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(DecodeError::TooLarge(len));
    }
    Ok((buf.len() >= PREFIX + len).then_some((PREFIX, PREFIX + len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Keypair;
    use proptest::prelude::*;

    fn key(n: u8) -> Keypair {
        Keypair::from_secret([n; 32])
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&Msg::GetPeers);
        bytes.push(0);
        assert_eq!(decode::<Msg>(&bytes), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn a_huge_length_prefix_inside_the_body_fails_cleanly() {
        // Variant PeerList (index 6) claiming u32::MAX entries.
        let bytes = [6u8, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            decode::<Msg>(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Msg>(&bytes);
        }

        #[test]
        fn messages_round_trip(offset in any::<u32>(), reason in ".{0,40}", n in 0usize..20) {
            let peers = (0..n)
                .map(|i| PeerInfo {
                    id: key(i as u8).id(),
                    addr: SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16)),
                    incarnation: i as u64,
                    degree: i as u32,
                })
                .collect();
            for msg in [
                Msg::StatusRequest { offset },
                Msg::Refused { reason: reason.clone() },
                Msg::PeerList(peers),
                Msg::Register(Box::new(Registration::new(&key(9), "[::1]:9".parse().unwrap(), 1))),
            ] {
                prop_assert_eq!(decode::<Msg>(&encode(&msg)), Ok(msg));
            }
        }
    }

    #[test]
    fn frames_put_into_one_buffer_come_out_whole_and_in_order() {
        let msgs = [
            Msg::StatusRequest { offset: 7 },
            Msg::Refused {
                reason: "x".repeat(300),
            },
            Msg::StatusRequest { offset: 0 },
        ];
        let mut buf = Vec::new();
        for m in &msgs {
            put_frame(m, &mut buf).unwrap();
        }
        // The prefix is the body's length, big-endian (PROTOCOL §3).
        let first = encode(&msgs[0]);
        assert_eq!(buf[..PREFIX], (first.len() as u32).to_be_bytes());
        assert_eq!(buf[PREFIX..PREFIX + first.len()], first[..]);
        let mut rest = &buf[..];
        let mut out = Vec::new();
        while let Some((start, end)) = next_frame(rest, MAX_FRAME).unwrap() {
            out.push(decode::<Msg>(&rest[start..end]).unwrap());
            rest = &rest[end..];
        }
        assert_eq!(out, msgs);
        assert!(rest.is_empty());
        // Every cut short of a whole frame waits for more bytes.
        for cut in 0..PREFIX + first.len() {
            assert_eq!(next_frame(&buf[..cut], MAX_FRAME), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn an_oversize_frame_is_refused_by_its_prefix_and_never_put() {
        let prefix = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert_eq!(
            next_frame(&prefix, MAX_FRAME),
            Err(DecodeError::TooLarge(MAX_FRAME + 1))
        );
        assert_eq!(
            next_frame(&[0, 0, 2, 1], 512),
            Err(DecodeError::TooLarge(513))
        );
        let mut buf = vec![1, 2, 3];
        let huge = Msg::Refused {
            reason: "x".repeat(MAX_FRAME),
        };
        assert!(matches!(
            put_frame(&huge, &mut buf),
            Err(DecodeError::TooLarge(_))
        ));
        assert_eq!(
            buf,
            [1, 2, 3],
            "a refused frame leaves the buffer as it was"
        );
    }
}
