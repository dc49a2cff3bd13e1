//! The messages every delivery is made of (`Gossip`, `Have`, `Want`, `Haves`, `Wants`),
//! encoded and decoded by hand, byte for byte as postcard does: the wire stays postcard
//! (PROTOCOL §3). postcard goes through serde one byte at a time for the 32- and 64-byte
//! keys, ids and signatures these messages mostly are; here each is one copy.
//!
//! Decoding is strict: it gives a message only where postcard gives the same one, and leaves
//! everything else (an error, an unusual encoding postcard also reads) to postcard.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;

use super::Msg;
use crate::cert::{Certificate, Change, Op};
use crate::gossip::{Gossip, MsgId};
use crate::id::{PeerId, Signature};

/// `Msg`'s variant indices (postcard writes an index under 128 as that one byte).
const GOSSIP: u8 = 20;
const HAVE: u8 = 21;
const WANT: u8 = 22;
const HAVES: u8 = 29;
const WANTS: u8 = 30;

/// Appends `msg`'s body to `out` if it is one of the messages encoded here; otherwise appends
/// nothing and returns false.
pub(super) fn encode(msg: &Msg, out: &mut Vec<u8>) -> bool {
    match msg {
        Msg::Gossip(g) => {
            out.push(GOSSIP);
            put_gossip(g, out);
        }
        Msg::Have(id) => {
            out.push(HAVE);
            out.extend_from_slice(&id.0);
        }
        Msg::Want(id) => {
            out.push(WANT);
            out.extend_from_slice(&id.0);
        }
        Msg::Haves(ids) => {
            out.push(HAVES);
            put_ids(ids, out);
        }
        Msg::Wants(ids) => {
            out.push(WANTS);
            put_ids(ids, out);
        }
        _ => return false,
    }
    true
}

/// The message `body` holds, if it is one of those decoded here, in the encoding postcard
/// writes, whole, with nothing after it; `None` leaves `body` to postcard.
pub(super) fn decode(body: &[u8]) -> Option<Msg> {
    let (&tag, rest) = body.split_first()?;
    let mut r = Reader(rest);
    let msg = match tag {
        GOSSIP => Msg::Gossip(Box::new(r.gossip()?)),
        HAVE => Msg::Have(MsgId(r.array()?)),
        WANT => Msg::Want(MsgId(r.array()?)),
        HAVES => Msg::Haves(r.ids()?),
        WANTS => Msg::Wants(r.ids()?),
        _ => return None,
    };
    r.0.is_empty().then_some(msg)
}

/// Every field, in their order (destructured whole, so that a field added to any of these
/// types does not build until it is encoded here too).
fn put_gossip(g: &Gossip, out: &mut Vec<u8>) {
    let Gossip {
        origin,
        text,
        sig,
        hops,
        via,
        cert,
    } = g;
    out.extend_from_slice(&origin.0);
    put_varint(text.len() as u64, out);
    out.extend_from_slice(text.as_bytes());
    put_signature(sig, out);
    put_varint(u64::from(*hops), out);
    // serde's form for an option: a tag byte, then the value if some.
    match via {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.0);
        }
    }
    let Certificate { change, sigs } = &**cert;
    let Change {
        op,
        peer,
        addr,
        incarnation,
    } = change;
    out.push(match op {
        Op::Add => 0,
        Op::Remove => 1,
    });
    out.extend_from_slice(&peer.0);
    // serde's form for a socket address in a binary format: the variant, the octets, the port.
    match addr {
        SocketAddr::V4(a) => {
            out.push(0);
            out.extend_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            out.push(1);
            out.extend_from_slice(&a.ip().octets());
        }
    }
    put_varint(u64::from(addr.port()), out);
    put_varint(*incarnation, out);
    put_varint(sigs.len() as u64, out);
    for (seed, sig) in sigs {
        out.extend_from_slice(&seed.0);
        put_signature(sig, out);
    }
}

/// A signature is serde bytes: its length, then the bytes.
fn put_signature(sig: &Signature, out: &mut Vec<u8>) {
    put_varint(sig.0.len() as u64, out);
    out.extend_from_slice(&sig.0);
}

fn put_ids(ids: &[MsgId], out: &mut Vec<u8>) {
    put_varint(ids.len() as u64, out);
    for id in ids {
        out.extend_from_slice(&id.0);
    }
}

/// postcard's varint: seven bits a byte, least significant first, the top bit set on every
/// byte but the last.
fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// What is left to decode.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A varint of a type of `bytes` varint bytes at most whose last byte can be `last` at
    /// most, read as postcard reads it (which also takes longer forms than it writes).
    fn varint(&mut self, bytes: usize, last: u8) -> Option<u64> {
        let mut n = 0;
        for i in 0..bytes {
            let [b] = self.array()?;
            n |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return (i + 1 < bytes || b <= last).then_some(n);
            }
        }
        None
    }

    fn u16(&mut self) -> Option<u16> {
        self.varint(3, 0b11).map(|n| n as u16)
    }

    fn u32(&mut self) -> Option<u32> {
        self.varint(5, 0b1111).map(|n| n as u32)
    }

    fn u64(&mut self) -> Option<u64> {
        self.varint(10, 1)
    }

    /// A `usize`, which postcard reads as the platform's width.
    fn usize(&mut self) -> Option<usize> {
        let n = match usize::BITS {
            64 => self.u64()?,
            32 => self.u32()?.into(),
            _ => self.u16()?.into(),
        };
        usize::try_from(n).ok()
    }

    /// A length, and the capacity worth reserving for it: no more than the items of at least
    /// `min_size` bytes that what is left could hold.
    fn len(&mut self, min_size: usize) -> Option<(usize, usize)> {
        let n = self.usize()?;
        Some((n, n.min(self.0.len() / min_size)))
    }

    fn signature(&mut self) -> Option<Signature> {
        match self.usize()? {
            64 => Some(Signature(self.array()?)),
            _ => None,
        }
    }

    fn ids(&mut self) -> Option<Vec<MsgId>> {
        let (n, room) = self.len(32)?;
        let mut ids = Vec::with_capacity(room);
        for _ in 0..n {
            ids.push(MsgId(self.array()?));
        }
        Some(ids)
    }

    fn gossip(&mut self) -> Option<Gossip> {
        let origin = PeerId(self.array()?);
        let len = self.usize()?;
        let text = std::str::from_utf8(self.take(len)?).ok()?.to_owned();
        let sig = self.signature()?;
        let hops = self.u16()?;
        let via = match self.take(1)? {
            [0] => None,
            [1] => Some(Box::new(PeerId(self.array()?))),
            _ => return None,
        };
        let change = self.change()?;
        // Each (seed, signature) is 32 + 1 + 64 bytes.
        let (n, room) = self.len(97)?;
        let mut sigs = Vec::with_capacity(room);
        for _ in 0..n {
            sigs.push((PeerId(self.array()?), self.signature()?));
        }
        let cert = Arc::new(Certificate { change, sigs });
        Some(Gossip {
            origin,
            text,
            sig,
            hops,
            via,
            cert,
        })
    }

    fn change(&mut self) -> Option<Change> {
        let op = match self.u32()? {
            0 => Op::Add,
            1 => Op::Remove,
            _ => return None,
        };
        let peer = PeerId(self.array()?);
        let addr = match self.u32()? {
            0 => {
                let ip = Ipv4Addr::from(self.array::<4>()?);
                SocketAddr::V4(SocketAddrV4::new(ip, self.u16()?))
            }
            1 => {
                let ip = Ipv6Addr::from(self.array::<16>()?);
                SocketAddr::V6(SocketAddrV6::new(ip, self.u16()?, 0, 0))
            }
            _ => return None,
        };
        let incarnation = self.u64()?;
        Some(Change {
            op,
            peer,
            addr,
            incarnation,
        })
    }
}

#[cfg(test)]
mod tests;
