//! The handshake that opens every connection (SPEC §4, PROTOCOL §3): what each side checks.
//!
//! Every connection is encrypted and authenticated with the Noise protocol's XX pattern
//! ([`NOISE`]); the runtime drives it, proto says what goes in it. Each side first sends the
//! plaintext [`PREAMBLE`] (magic and version, so that an older node or a stranger meets a
//! clear refusal before any cryptography), then the three Noise messages, the second and third
//! carrying each side's [`Hello`] encrypted. A Hello binds the Noise static key of its sender's
//! connection to the node's ed25519 identity: its signature covers that static key, the role
//! and the listening address. Noise proves, with fresh ephemeral keys on both sides, that the
//! other side holds the static key's secret now (the freshness the nonce proof gave before);
//! the Hello's signature proves that the id claimed holds that static key. A Hello is signed
//! once per process (static keys are made at start and never stored).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::id::{Keypair, PeerId, Signature};
use crate::link::Role;
use crate::sig::signed;

/// The first four bytes of every connection, each way.
pub const MAGIC: [u8; 4] = *b"HSAY";

/// The protocol version this build speaks.
pub const VERSION: u16 = 6;

/// The Noise protocol every link runs (the Noise spec's name for it).
pub const NOISE: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// The largest Noise message: a transport message carries at most this less the 16-byte tag.
pub const MAX_NOISE: usize = 65_535;

/// The authentication tag every Noise transport message ends with.
pub const TAG: usize = 16;

/// What each side sends first, in the clear: [`MAGIC`], [`VERSION`] big-endian, and `"nx"`
/// (Noise XX). It is also the Noise prologue, so both sides' handshakes cover it.
pub const PREAMBLE: [u8; 8] = {
    let v = VERSION.to_be_bytes();
    [
        MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], v[0], v[1], b'n', b'x',
    ]
};

/// Checks the other side's preamble: a hearsay node of this version, or why not.
pub fn check_preamble(theirs: &[u8; 8]) -> Result<(), HandshakeError> {
    if theirs[4..8] == MAGIC {
        // A 4-byte frame length, then a postcard Hello: protocol 4 and older, in the clear.
        return Err(HandshakeError::Plaintext);
    }
    let magic = [theirs[0], theirs[1], theirs[2], theirs[3]];
    if magic != MAGIC {
        return Err(HandshakeError::BadMagic(magic));
    }
    let version = u16::from_be_bytes([theirs[4], theirs[5]]);
    if version != VERSION {
        return Err(HandshakeError::Version(version));
    }
    if theirs[6..] != PREAMBLE[6..] {
        return Err(HandshakeError::Pattern([theirs[6], theirs[7]]));
    }
    Ok(())
}

/// What each side says of itself inside the Noise handshake (encrypted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's role.
    pub role: Role,
    /// The sender's id.
    pub id: PeerId,
    /// Where the sender listens (what others should dial).
    pub addr: SocketAddr,
    /// The id's signature over the Noise static key, the role and the address
    /// ([`Hello::new`]).
    pub sig: Signature,
}

fn binding(static_key: &[u8; 32], role: Role, addr: SocketAddr) -> Vec<u8> {
    signed(b"hearsay-noise-static-key-v1", &(static_key, role, addr))
}

impl Hello {
    /// This node's Hello for connections made with the Noise static public key `static_key`.
    pub fn new(key: &Keypair, role: Role, addr: SocketAddr, static_key: &[u8; 32]) -> Hello {
        Hello {
            role,
            id: key.id(),
            addr,
            sig: key.sign(&binding(static_key, role, addr)),
        }
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// An older node's plaintext handshake.
    #[error(
        "a plaintext handshake (a hearsay node older than protocol version 5): links are encrypted"
    )]
    Plaintext,
    /// Not a hearsay node.
    #[error("bad magic {0:02x?}: not a hearsay node")]
    BadMagic([u8; 4]),
    /// Another version.
    #[error("protocol version {0}, this node speaks {VERSION}")]
    Version(u16),
    /// This version, but not the Noise XX handshake.
    #[error("handshake pattern {0:02x?}, this node speaks Noise XX (\"nx\")")]
    Pattern([u8; 2]),
    /// The other side claims our own id.
    #[error("the other side claims this node's own id")]
    SelfConnection,
    /// The Noise static key the other side used is not signed by the id it claims.
    #[error("the connection's static key is not signed by id {0}")]
    BadProof(PeerId),
}

/// Checks the other side's Hello, received on a Noise handshake whose other side used the
/// static public key `their_static`.
pub fn check_hello(
    my_id: PeerId,
    theirs: &Hello,
    their_static: &[u8; 32],
) -> Result<(), HandshakeError> {
    if theirs.id == my_id {
        return Err(HandshakeError::SelfConnection);
    }
    let bytes = binding(their_static, theirs.role, theirs.addr);
    if theirs.id.verify(&bytes, &theirs.sig) {
        Ok(())
    } else {
        Err(HandshakeError::BadProof(theirs.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[test]
    fn a_hello_binds_its_static_key_to_its_id() {
        let (a, b) = (Keypair::from_secret([1; 32]), Keypair::from_secret([2; 32]));
        let hb = Hello::new(&b, Role::Peer, addr(), &[20; 32]);
        assert_eq!(check_hello(a.id(), &hb, &[20; 32]), Ok(()));
        // Another static key: a Hello taken from another connection proves nothing here.
        assert_eq!(
            check_hello(a.id(), &hb, &[21; 32]),
            Err(HandshakeError::BadProof(b.id()))
        );
    }

    #[test]
    fn a_claimed_id_without_its_key_fails() {
        let (a, b, mallory) = (
            Keypair::from_secret([1; 32]),
            Keypair::from_secret([2; 32]),
            Keypair::from_secret([3; 32]),
        );
        let mut fake = Hello::new(&mallory, Role::Peer, addr(), &[30; 32]);
        fake.id = b.id(); // claims b's id, signs with its own key
        assert_eq!(
            check_hello(a.id(), &fake, &[30; 32]),
            Err(HandshakeError::BadProof(b.id()))
        );
        // The role and address are signed too.
        let mut seed = Hello::new(&mallory, Role::Peer, addr(), &[30; 32]);
        seed.role = Role::Seed;
        assert!(check_hello(a.id(), &seed, &[30; 32]).is_err());
        let mut moved = Hello::new(&mallory, Role::Peer, addr(), &[30; 32]);
        moved.addr = "127.0.0.1:2".parse().unwrap();
        assert!(check_hello(a.id(), &moved, &[30; 32]).is_err());
    }

    #[test]
    fn own_id_is_refused() {
        let a = Keypair::from_secret([1; 32]);
        let h = Hello::new(&a, Role::Peer, addr(), &[9; 32]);
        assert_eq!(
            check_hello(a.id(), &h, &[9; 32]),
            Err(HandshakeError::SelfConnection)
        );
    }

    #[test]
    fn the_preamble_names_an_old_node_a_stranger_and_another_version() {
        assert_eq!(PREAMBLE, *b"HSAY\x00\x06nx");
        assert_eq!(check_preamble(&PREAMBLE), Ok(()));
        // Protocol 4 began with a 4-byte length and a postcard Hello: magic first.
        assert_eq!(
            check_preamble(b"\x00\x00\x00\x5bHSAY"),
            Err(HandshakeError::Plaintext)
        );
        assert_eq!(
            check_preamble(b"GET / HT"),
            Err(HandshakeError::BadMagic(*b"GET "))
        );
        assert_eq!(
            check_preamble(b"HSAY\x00\x05nx"),
            Err(HandshakeError::Version(5))
        );
        assert_eq!(
            check_preamble(b"HSAY\x00\x06ik"),
            Err(HandshakeError::Pattern(*b"ik"))
        );
    }
}
