//! Identities, keys and signatures (SPEC §3, PROTOCOL §2).
//!
//! A node's id is its ed25519 public key. Keys are made from bytes handed in by the caller:
//! proto never reads OS randomness, so the runtime seeds keys from the OS and the simulator
//! from its seeded RNG.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// A node's identity: its ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerId(pub [u8; 32]);

impl PeerId {
    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<PeerId> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(PeerId(out))
    }

    /// The full id as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex digits, for log lines.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// Checks `sig` over `msg` with this id as the public key (strict verification: no
    /// malleable or small-order keys). A pure function: machines check through a
    /// [`crate::sig::Checks`], which may share passed checks among them.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        VerifyingKey::from_bytes(&self.0).is_ok_and(|key| verify_with(&key, msg, sig))
    }
}

/// [`PeerId::verify`] with the id's key already decompressed.
pub(crate) fn verify_with(key: &VerifyingKey, msg: &[u8], sig: &Signature) -> bool {
    let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
    key.verify_strict(msg, &sig).is_ok()
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.short())
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "sig_bytes")] pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..4]))
    }
}

// serde implements arrays only up to 32 elements.
mod sig_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let bytes: &[u8] = Deserialize::deserialize(d)?;
        bytes
            .try_into()
            .map_err(|_| D::Error::invalid_length(bytes.len(), &"64 bytes"))
    }
}

/// A node's key pair.
#[derive(Clone)]
pub struct Keypair {
    key: SigningKey,
}

impl Keypair {
    /// Makes the key pair whose secret is `secret` (32 bytes from a good random source).
    pub fn from_secret(secret: [u8; 32]) -> Keypair {
        Keypair {
            key: SigningKey::from_bytes(&secret),
        }
    }

    /// The secret, for storing in the data dir.
    pub fn secret(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// This key pair's id (public key).
    pub fn id(&self) -> PeerId {
        PeerId(self.key.verifying_key().to_bytes())
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.key.sign(msg).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.id().short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_key_and_message() {
        let a = Keypair::from_secret([1; 32]);
        let b = Keypair::from_secret([2; 32]);
        let sig = a.sign(b"hello");
        assert!(a.id().verify(b"hello", &sig));
        assert!(!a.id().verify(b"hellO", &sig));
        assert!(!b.id().verify(b"hello", &sig));
    }

    #[test]
    fn ids_round_trip_through_hex() {
        let id = Keypair::from_secret([7; 32]).id();
        assert_eq!(PeerId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(PeerId::from_hex("zz"), None);
        assert_eq!(id.short().len(), 8);
    }
}
