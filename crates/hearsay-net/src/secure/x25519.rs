//! X25519 for the Noise handshake, computed on the curve's Edwards form.
//!
//! snow's own X25519 is curve25519-dalek's Montgomery ladder, which has no vector backend,
//! and a handshake's three key agreements a side were about half of its CPU. The Edwards
//! scalar multiplication has one (AVX2 where the CPU has it; constant time in the scalar
//! either way), so an agreement maps the other side's u-coordinate to an Edwards
//! point, multiplies it there by the clamped private key, and maps the product back. The
//! bytes are the ladder's: the u-coordinate of a multiple does not depend on which of the two
//! points with that u was taken. A u whose point lies on the twist (never an honest key) has
//! no Edwards point and goes to the ladder, which defines X25519 there. The tests hold the
//! two against each other and against RFC 7748's vectors.

use curve25519_dalek::montgomery::MontgomeryPoint;
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver, FallbackResolver, RingResolver};
use snow::types::{Cipher, Dh, Hash, Random};

/// snow's resolver (ring's ciphers and hashes, the portable rest) with [`X25519`] for
/// Curve25519.
pub(super) struct Resolver(FallbackResolver);

impl Resolver {
    pub(super) fn new() -> Resolver {
        Resolver(FallbackResolver::new(
            Box::new(RingResolver),
            Box::new(DefaultResolver),
        ))
    }
}

impl CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        self.0.resolve_rng()
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::<X25519>::default()),
            _ => self.0.resolve_dh(choice),
        }
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        self.0.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        self.0.resolve_cipher(choice)
    }
}

/// A Curve25519 key pair whose agreements go by the Edwards form.
#[derive(Default)]
struct X25519 {
    private: [u8; 32],
    public: [u8; 32],
}

impl X25519 {
    fn derive_public(&mut self) {
        self.public = MontgomeryPoint::mul_base_clamped(self.private).to_bytes();
    }
}

/// X25519 (RFC 7748) of the private key `k` and the u-coordinate `u`.
fn agree(k: [u8; 32], u: [u8; 32]) -> [u8; 32] {
    let u = MontgomeryPoint(u);
    match u.to_edwards(0) {
        Some(point) => point.mul_clamped(k).to_montgomery(),
        None => u.mul_clamped(k),
    }
    .to_bytes()
}

impl Dh for X25519 {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        32
    }

    fn priv_len(&self) -> usize {
        32
    }

    fn set(&mut self, private: &[u8]) {
        // snow passes a key of `priv_len` bytes.
        self.private.copy_from_slice(&private[..32]);
        self.derive_public();
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        rng.try_fill_bytes(&mut self.private)?;
        self.derive_public();
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        &self.private
    }

    fn dh(&self, public: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        // snow passes a key of `pub_len` bytes and room for `dh_len`.
        let mut u = [0; 32];
        u.copy_from_slice(&public[..32]);
        out[..32].copy_from_slice(&agree(self.private, u));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn ladder(k: [u8; 32], u: [u8; 32]) -> [u8; 32] {
        MontgomeryPoint(u).mul_clamped(k).to_bytes()
    }

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn rfc_7748_vectors() {
        // §5.2, the two single-step vectors.
        let cases = [
            (
                "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
                "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
            ),
            (
                "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
                "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
            ),
        ];
        for (k, u, out) in cases {
            assert_eq!(agree(hex32(k), hex32(u)), hex32(out));
        }
        // §6.1: Alice's and Bob's keys agree on the shared secret.
        let alice = hex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let bob = hex32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let shared = hex32("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        let public = |k| MontgomeryPoint::mul_base_clamped(k).to_bytes();
        assert_eq!(agree(alice, public(bob)), shared);
        assert_eq!(agree(bob, public(alice)), shared);
    }

    #[test]
    fn agreements_are_the_ladders_on_the_curve_its_twist_and_the_edges() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(25519);
        let (mut on_curve, mut on_twist) = (0, 0);
        let mut check = |k: [u8; 32], u: [u8; 32]| {
            assert_eq!(agree(k, u), ladder(k, u), "k {k:?}, u {u:?}");
            match MontgomeryPoint(u).to_edwards(0) {
                Some(_) => on_curve += 1,
                None => on_twist += 1,
            }
        };
        for _ in 0..300 {
            check(rng.random(), rng.random());
        }
        // Small u, u near p = 2^255 - 19 and past it (not reduced), the points of small
        // order, and each with the top bit set (X25519 ignores it).
        let mut edges: Vec<[u8; 32]> = (0u8..=40)
            .map(|v| {
                let mut u = [0; 32];
                u[0] = v;
                u
            })
            .collect();
        for below in 0u8..=40 {
            let mut u = [0xff; 32];
            u[31] = 0x7f;
            u[0] = 0xff - below;
            edges.push(u);
        }
        edges.extend(SMALL_ORDER.map(hex32));
        for u in edges {
            let mut high = u;
            high[31] |= 0x80;
            for _ in 0..3 {
                let k = rng.random();
                check(k, u);
                check(k, high);
            }
        }
        assert!(
            on_curve > 150 && on_twist > 150,
            "{on_curve} on the curve, {on_twist} on the twist"
        );
    }

    /// u-coordinates of the points of small order: 0, 1, p - 1, libsodium's other two, and
    /// p and p + 1 (0 and 1 unreduced).
    const SMALL_ORDER: [&str; 7] = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];

    #[test]
    fn a_point_of_small_order_gives_zero() {
        // A clamped key is a multiple of 8, the cofactor: such a point goes to the identity,
        // whose u is 0, on either path.
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        for u in SMALL_ORDER.map(hex32) {
            for _ in 0..4 {
                assert_eq!(agree(rng.random(), u), [0; 32], "u {u:?}");
            }
        }
    }

    #[test]
    fn a_key_pair_is_snows() {
        // The public key the resolver's pair derives is what snow's own derives.
        let key = hex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let mut ours = X25519::default();
        ours.set(&key);
        let mut theirs = DefaultResolver.resolve_dh(&DHChoice::Curve25519).unwrap();
        theirs.set(&key);
        assert_eq!(ours.pubkey(), theirs.pubkey());
        assert_eq!(
            ours.pubkey(),
            hex32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        let mut a = [0; 32];
        let mut b = [0; 32];
        let other = MontgomeryPoint::mul_base_clamped([9; 32]).to_bytes();
        ours.dh(&other, &mut a).unwrap();
        theirs.dh(&other, &mut b).unwrap();
        assert_eq!(a, b);
    }
}
