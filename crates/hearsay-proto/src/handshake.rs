//! The handshake that opens every connection (SPEC §4, PROTOCOL §3).
//!
//! Each side sends a [`Hello`] (magic, version, role, id, listening address, a fresh nonce),
//! then a [`Proof`]: its signature over the other side's nonce and both ids. Whoever passes
//! [`check_hello`] and [`check_proof`] holds the key of the id it claims. The nonce comes from
//! the driver (the runtime takes it from the OS, the simulator from its seeded RNG).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::id::{Keypair, PeerId, Signature};
use crate::link::Role;
use crate::sig::signed;

/// The first four bytes of every Hello.
pub const MAGIC: [u8; 4] = *b"HSAY";

/// The protocol version this build speaks.
pub const VERSION: u16 = 4;

/// The first frame each side sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must be [`MAGIC`].
    pub magic: [u8; 4],
    /// Must be [`VERSION`].
    pub version: u16,
    /// The sender's role.
    pub role: Role,
    /// The sender's id.
    pub id: PeerId,
    /// Where the sender listens (what others should dial).
    pub addr: SocketAddr,
    /// Fresh random bytes the other side must sign.
    pub nonce: [u8; 32],
}

impl Hello {
    /// A Hello for this node.
    pub fn new(role: Role, id: PeerId, addr: SocketAddr, nonce: [u8; 32]) -> Hello {
        Hello {
            magic: MAGIC,
            version: VERSION,
            role,
            id,
            addr,
            nonce,
        }
    }
}

/// The second frame each side sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Signature over (their nonce, my id, their id).
    pub sig: Signature,
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Not a hearsay node.
    #[error("bad magic {0:02x?}: not a hearsay node")]
    BadMagic([u8; 4]),
    /// Another version.
    #[error("protocol version {0}, this node speaks {VERSION}")]
    Version(u16),
    /// The other side claims our own id.
    #[error("the other side claims this node's own id")]
    SelfConnection,
    /// The proof does not hold.
    #[error("the key proof does not hold for id {0}")]
    BadProof(PeerId),
}

fn proof_bytes(nonce: &[u8; 32], signer: PeerId, other: PeerId) -> Vec<u8> {
    signed(b"hearsay-handshake-v1", &(nonce, signer, other))
}

/// Checks the other side's Hello before answering it.
pub fn check_hello(mine: &Hello, theirs: &Hello) -> Result<(), HandshakeError> {
    if theirs.magic != MAGIC {
        return Err(HandshakeError::BadMagic(theirs.magic));
    }
    if theirs.version != VERSION {
        return Err(HandshakeError::Version(theirs.version));
    }
    if theirs.id == mine.id {
        return Err(HandshakeError::SelfConnection);
    }
    Ok(())
}

/// This side's proof, answering the other side's Hello.
pub fn prove(key: &Keypair, theirs: &Hello) -> Proof {
    Proof {
        sig: key.sign(&proof_bytes(&theirs.nonce, key.id(), theirs.id)),
    }
}

/// Checks the other side's proof against our nonce.
pub fn check_proof(mine: &Hello, theirs: &Hello, proof: &Proof) -> Result<(), HandshakeError> {
    let bytes = proof_bytes(&mine.nonce, theirs.id, mine.id);
    if theirs.id.verify(&bytes, &proof.sig) {
        Ok(())
    } else {
        Err(HandshakeError::BadProof(theirs.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(key: &Keypair, nonce: u8) -> Hello {
        Hello::new(
            Role::Peer,
            key.id(),
            "127.0.0.1:1".parse().unwrap(),
            [nonce; 32],
        )
    }

    #[test]
    fn both_sides_prove_their_keys() {
        let (a, b) = (Keypair::from_secret([1; 32]), Keypair::from_secret([2; 32]));
        let (ha, hb) = (hello(&a, 10), hello(&b, 20));
        assert_eq!(check_hello(&ha, &hb), Ok(()));
        assert_eq!(check_proof(&ha, &hb, &prove(&b, &ha)), Ok(()));
        assert_eq!(check_proof(&hb, &ha, &prove(&a, &hb)), Ok(()));
    }

    #[test]
    fn a_claimed_id_without_its_key_fails() {
        let (a, b, mallory) = (
            Keypair::from_secret([1; 32]),
            Keypair::from_secret([2; 32]),
            Keypair::from_secret([3; 32]),
        );
        let ha = hello(&a, 10);
        let mut fake = hello(&mallory, 20);
        fake.id = b.id(); // claims b's id, signs with its own key
        let proof = prove(&mallory, &ha);
        assert_eq!(
            check_proof(&ha, &fake, &proof),
            Err(HandshakeError::BadProof(b.id()))
        );
    }

    #[test]
    fn a_replayed_proof_fails_against_a_fresh_nonce() {
        let (a, b) = (Keypair::from_secret([1; 32]), Keypair::from_secret([2; 32]));
        let hb = hello(&b, 20);
        let old = prove(&b, &hello(&a, 10));
        assert!(check_proof(&hello(&a, 11), &hb, &old).is_err());
    }

    #[test]
    fn wrong_magic_version_or_own_id_is_refused() {
        let a = Keypair::from_secret([1; 32]);
        let b = Keypair::from_secret([2; 32]);
        let mut h = hello(&b, 1);
        h.magic = *b"HTTP";
        assert!(matches!(
            check_hello(&hello(&a, 0), &h),
            Err(HandshakeError::BadMagic(_))
        ));
        let mut h = hello(&b, 1);
        h.version = 99;
        assert_eq!(
            check_hello(&hello(&a, 0), &h),
            Err(HandshakeError::Version(99))
        );
        assert_eq!(
            check_hello(&hello(&a, 0), &hello(&a, 1)),
            Err(HandshakeError::SelfConnection)
        );
    }
}
