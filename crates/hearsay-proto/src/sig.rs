//! What signed claims share (PROTOCOL §2): the bytes a signature covers, the checks that may
//! be shared among the machines of one process, and the hash maps of proto.
//!
//! Every claim (`cert`, `suspicion`, `gossip`) signs `signed(domain, fields)` and is checked
//! through a [`Checks`] its machine holds: a value handed to the machine, never a global, so a
//! machine checks alone unless its driver chose to share.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use ed25519_dalek::VerifyingKey;

use serde::Serialize;

use crate::id::{PeerId, Signature};

/// Appends `value`'s encoding to `out`, pushing each byte straight into the vector (postcard
/// writes ids and signatures a byte at a time).
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> postcard::Result<()> {
    /// Lets postcard append to a borrowed buffer.
    struct Tail<'a>(&'a mut Vec<u8>);
    impl postcard::ser_flavors::Flavor for Tail<'_> {
        type Output = ();
        #[inline(always)]
        fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
            self.0.push(byte);
            Ok(())
        }
        #[inline(always)]
        fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
            self.0.extend_from_slice(bytes);
            Ok(())
        }
        fn finalize(self) -> postcard::Result<()> {
            Ok(())
        }
    }
    postcard::serialize_with_flavor(value, Tail(out))
}

/// The bytes a signature covers: a domain tag, then the postcard encoding of the signed
/// fields. The tag keeps a signature over one kind of claim from passing for another.
pub(crate) fn signed<T: Serialize>(domain: &[u8], value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + 96);
    out.extend_from_slice(domain);
    // Encoding our own plain data cannot fail.
    if encode_into(value, &mut out).is_err() {
        out.truncate(domain.len());
    }
    out
}

/// A hash map keyed by what other nodes choose (a peer id, a message id, a digest), hashed
/// under this machine's secret [`HashKeys`], so that nobody can aim keys at one bucket.
pub(crate) type IdMap<K, V> = HashMap<K, V, HashKeys>;

/// The secret keys of a machine's [`IdMap`]s (quinn-proto keys its connection-id maps so,
/// for the same reason): derived from the machine's RNG seed, which the runtime takes from
/// the OS and the simulator from its run seed, so a simulation stays deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKeys(u64, u64);

impl HashKeys {
    /// The keys for a machine whose RNG seed is `seed` (not drawn from that RNG, so the
    /// machine's other draws are unchanged).
    pub fn from_seed(seed: u64) -> HashKeys {
        let bytes = blake3::derive_key("hearsay 2026 hash map keys", &seed.to_le_bytes());
        let word = |i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(w)
        };
        HashKeys(word(0), word(8))
    }
}

impl BuildHasher for HashKeys {
    type Hasher = KeyedHasher;

    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            keys: *self,
            folded: 0,
        }
    }
}

/// Hashes a key that is itself a cryptographic hash (or holds one first) by its first eight
/// bytes, through SipHash-1-3 under the map's secret keys: without the keys nobody can tell
/// which ids share a bucket, and two ids share all 64 bits of the prefix only by a collision
/// of the hash that made them. One SipHash of one word per lookup; looking ids up is most of
/// what a peer does while a message spreads.
pub struct KeyedHasher {
    keys: HashKeys,
    folded: u64,
}

impl Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        match bytes.first_chunk::<8>() {
            Some(prefix) => self.folded ^= u64::from_le_bytes(*prefix),
            // Not a hash: still a function of every byte.
            None => (bytes.iter())
                .for_each(|b| self.folded = self.folded.rotate_left(8) ^ u64::from(*b)),
        }
    }

    /// An array's length, written before its bytes: the same for every key.
    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        let mut sip = siphasher::sip::SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        sip.write_u64(self.folded);
        sip.finish()
    }
}

/// A set that remembers at most `cap` keys (cryptographic hashes, or ids made of one): when
/// full, the oldest is forgotten first.
#[derive(Debug)]
pub(crate) struct Recent<K> {
    keys: HashSet<K, HashKeys>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Copy> Recent<K> {
    /// An empty set of at most `cap` keys (at least one), hashed under `keys`.
    pub(crate) fn new(cap: usize, keys: HashKeys) -> Recent<K> {
        Recent {
            keys: HashSet::with_hasher(keys),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Whether `key` is remembered.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.keys.contains(key)
    }

    /// Remembers `key`, forgetting the oldest if full; false if it was remembered already.
    pub(crate) fn insert(&mut self, key: K) -> bool {
        if !self.keys.insert(key) {
            return false;
        }
        self.order.push_back(key);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
        true
    }

    /// Keys remembered.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

/// How a machine checks signatures. `Checks::default()` checks every signature it is given.
/// [`Checks::shared`] makes a handle that machines trusting each other's checks share (the
/// simulator's nodes, the peers of `hearsay up --in-process`), or that one machine keeps to
/// itself (a seed, which meets each vote again in a certificate): a signature that passed
/// once passes again without the curve arithmetic. Verification is a pure function of (key,
/// message, signature), so sharing changes no answer; a forged copy of a checked claim differs
/// in its signature or its bytes, misses, and is checked.
///
/// Every `Checks` (and its clones) also keeps the keys it has checked with, decompressed
/// ([`KeyCache`]): a machine meets the same origins, seeds and neighbours again and again.
#[derive(Clone, Debug, Default)]
pub struct Checks {
    memo: Option<Arc<Memo>>,
    keys: Arc<KeyCache>,
}

/// Keys of checks that passed, bounded: the oldest are forgotten first.
#[derive(Debug)]
struct Memo {
    inner: Mutex<Recent<[u8; 32]>>,
}

impl Checks {
    /// A handle to share, remembering at most `cap` passed checks, hashed under `keys`.
    pub fn shared(cap: usize, keys: HashKeys) -> Checks {
        Checks {
            memo: Some(Arc::new(Memo {
                inner: Mutex::new(Recent::new(cap, keys)),
            })),
            keys: Arc::default(),
        }
    }

    /// Whether `sig` is `id`'s signature over `msg` ([`PeerId::verify`], or a remembered pass).
    pub fn signature(&self, id: &PeerId, msg: &[u8], sig: &Signature) -> bool {
        let key = (b"hearsay-verified-v1".as_slice(), id, sig, msg);
        self.check_memo(key, || self.keys.verify(id, msg, sig))
    }

    /// [`Checks::signature`] over the bytes `msg` makes, remembered under `name`: a hash of
    /// those bytes (a message's id), so that a remembered pass costs neither the bytes nor
    /// another hash over them.
    pub fn signature_named(
        &self,
        id: &PeerId,
        name: &[u8; 32],
        msg: impl FnOnce() -> Vec<u8>,
        sig: &Signature,
    ) -> bool {
        let key = (
            b"hearsay-verified-named-v1".as_slice(),
            id,
            sig,
            name.as_slice(),
        );
        self.check_memo(key, || self.keys.verify(id, &msg(), sig))
    }

    /// `verify()`, or a remembered pass under the hash of (domain, key, signature, what was
    /// signed or its name) when checks are shared.
    fn check_memo(
        &self,
        (domain, id, sig, what): (&[u8], &PeerId, &Signature, &[u8]),
        verify: impl FnOnce() -> bool,
    ) -> bool {
        let Some(memo) = &self.memo else {
            return verify();
        };
        let mut h = blake3::Hasher::new();
        h.update(domain);
        h.update(&id.0);
        h.update(&sig.0);
        h.update(what);
        memo.check(*h.finalize().as_bytes(), verify)
    }

    /// How many passed checks are remembered (0 when not shared).
    pub fn remembered(&self) -> usize {
        self.memo
            .as_ref()
            .map_or(0, |m| m.inner.lock().map_or(0, |p| p.len()))
    }
}

/// Slots of a [`KeyCache`].
const KEY_SLOTS: usize = 1024;

/// Public keys decompressed once, kept in [`KEY_SLOTS`] slots (200 KiB once one is kept):
/// decompressing a key is a tenth of a signature check (a square root in the field). An id
/// goes to the slot its first bytes name, evicting the key there: anyone may grind keys that
/// share an honest peer's slot, which costs that peer's checks the decompression again, no
/// more than without the cache. Only valid keys are kept; a check's answer is
/// [`PeerId::verify`]'s.
#[derive(Debug, Default)]
struct KeyCache {
    slots: Mutex<Vec<Option<VerifyingKey>>>,
}

impl KeyCache {
    /// [`PeerId::verify`], with `id`'s key decompressed at most once while it keeps its slot.
    fn verify(&self, id: &PeerId, msg: &[u8], sig: &Signature) -> bool {
        (self.key(id)).is_some_and(|key| crate::id::verify_with(&key, msg, sig))
    }

    /// The slot of `id`'s key.
    fn slot(id: &PeerId) -> usize {
        usize::from(u16::from_le_bytes([id.0[0], id.0[1]])) % KEY_SLOTS
    }

    /// `id`'s key, from its slot or decompressed (and kept); None if `id` is not a key.
    fn key(&self, id: &PeerId) -> Option<VerifyingKey> {
        let slot = KeyCache::slot(id);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(Some(key)) = slots.get(slot) {
            if key.as_bytes() == &id.0 {
                return Some(*key);
            }
        }
        let key = VerifyingKey::from_bytes(&id.0).ok()?;
        if slots.is_empty() {
            slots.resize(KEY_SLOTS, None);
        }
        slots[slot] = Some(key);
        Some(key)
    }

    /// Whether `id`'s key is held.
    #[cfg(test)]
    fn holds(&self, id: &PeerId) -> bool {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.iter().flatten().any(|key| key.as_bytes() == &id.0)
    }
}

impl Memo {
    /// `verify()`, unless a check under `key` already passed; a pass is remembered.
    fn check(&self, key: [u8; 32], verify: impl FnOnce() -> bool) -> bool {
        if self.inner.lock().is_ok_and(|p| p.contains(&key)) {
            return true;
        }
        let ok = verify();
        if ok {
            if let Ok(mut p) = self.inner.lock() {
                p.insert(key);
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Keypair;
    use std::collections::BTreeSet;

    /// Shared or not, the answers are the same: a passed signature passes again, and a
    /// different key, message or signature is still checked (and fails).
    #[test]
    fn shared_checks_give_the_same_answers_as_checking_alone() {
        let a = Keypair::from_secret([3; 32]);
        let b = Keypair::from_secret([4; 32]);
        let sig = a.sign(b"memo");
        let other = a.sign(b"other");
        for checks in [
            Checks::default(),
            Checks::shared(1 << 10, HashKeys::from_seed(1)),
        ] {
            for _ in 0..2 {
                assert!(checks.signature(&a.id(), b"memo", &sig));
                assert!(!checks.signature(&a.id(), b"memO", &sig));
                assert!(!checks.signature(&b.id(), b"memo", &sig));
                assert!(!checks.signature(&a.id(), b"memo", &other));
            }
        }
    }

    /// A key is decompressed once and kept by the checks and their clones; a key evicted by
    /// another in its slot, or an id that is no key (never kept), changes no answer.
    #[test]
    fn checked_keys_are_kept_in_slots_and_change_no_answer() {
        // Two keys that share a slot (two of these 128 do).
        let keys: Vec<Keypair> = (0..128u8).map(|i| Keypair::from_secret([i; 32])).collect();
        let (a, b) = (keys.iter().enumerate())
            .flat_map(|(i, a)| keys[i + 1..].iter().map(move |b| (a, b)))
            .find(|(a, b)| KeyCache::slot(&a.id()) == KeyCache::slot(&b.id()))
            .expect("two of 128 keys share a slot");
        let not_a_key = (0..=255u8)
            .map(|i| PeerId([i; 32]))
            .find(|id| VerifyingKey::from_bytes(&id.0).is_err())
            .expect("bytes that are no point");
        let checks = Checks::default();
        let clone = checks.clone();
        let (sig_a, sig_b) = (a.sign(b"keys"), b.sign(b"keys"));
        assert!(!checks.keys.holds(&a.id()));
        assert!(checks.signature(&a.id(), b"keys", &sig_a));
        assert!(clone.keys.holds(&a.id()), "a clone shares the kept keys");
        for _ in 0..2 {
            assert!(clone.signature(&a.id(), b"keys", &sig_a));
            assert!(!clone.signature(&a.id(), b"kEys", &sig_a));
            assert!(!clone.signature(&a.id(), b"keys", &sig_b));
        }
        // b takes a's slot; both still check as before.
        assert!(checks.signature(&b.id(), b"keys", &sig_b));
        assert!(checks.keys.holds(&b.id()) && !checks.keys.holds(&a.id()));
        assert!(!checks.signature(&b.id(), b"keys", &sig_a));
        assert!(checks.signature(&a.id(), b"keys", &sig_a));
        assert!(checks.keys.holds(&a.id()) && !checks.keys.holds(&b.id()));
        // An id that is no key fails, and is not kept.
        assert!(!checks.signature(&not_a_key, b"keys", &sig_a));
        assert!(!checks.keys.holds(&not_a_key));
    }

    /// A clone is the same memory; the memory is bounded; failures are never remembered.
    #[test]
    fn shared_checks_are_shared_by_clones_bounded_and_remember_only_passes() {
        let a = Keypair::from_secret([5; 32]);
        let checks = Checks::shared(2, HashKeys::from_seed(1));
        let clone = checks.clone();
        let sig = a.sign(b"0");
        assert!(checks.signature(&a.id(), b"0", &sig));
        assert_eq!(clone.remembered(), 1);
        assert!(!clone.signature(&a.id(), b"1", &sig));
        assert_eq!(checks.remembered(), 1, "a failure is not remembered");
        for i in 0..5u8 {
            let m = [i];
            assert!(clone.signature(&a.id(), &m, &a.sign(&m)));
        }
        assert_eq!(checks.remembered(), 2, "bounded");
        assert_eq!(Checks::default().remembered(), 0);
    }

    fn hash(keys: HashKeys, id: &[u8; 32]) -> u64 {
        keys.hash_one(id)
    }

    /// Issue 16: ids an attacker made to share a bucket under a fixed hash of their prefix
    /// (the same low 16 bits) spread over the buckets under a machine's keys, and another
    /// machine's keys spread them otherwise; the same seed gives the same keys.
    #[test]
    fn ids_aimed_at_one_bucket_spread_under_the_machines_keys() {
        let aimed: Vec<[u8; 32]> = (0..1000u64)
            .map(|i| {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&(0xbeef | i << 16).to_le_bytes());
                id
            })
            .collect();
        let (a, b) = (HashKeys::from_seed(1), HashKeys::from_seed(2));
        assert_eq!(a, HashKeys::from_seed(1));
        assert_ne!(a, b);
        let buckets = |keys: HashKeys| -> BTreeSet<u64> {
            aimed.iter().map(|id| hash(keys, id) & 0xffff).collect()
        };
        assert!(buckets(a).len() > 980, "{} buckets", buckets(a).len());
        let moved = (aimed.iter())
            .filter(|id| hash(a, id) != hash(b, id))
            .count();
        assert_eq!(moved, 1000);
        // The same seed, the same hashes: a simulation's maps are the same each run.
        assert_eq!(hash(a, &aimed[7]), hash(HashKeys::from_seed(1), &aimed[7]));
    }

    #[test]
    fn signed_bytes_start_with_their_domain() {
        let a = signed(b"a-v1", &(1u8, 2u8));
        let b = signed(b"b-v1", &(1u8, 2u8));
        assert_eq!(a, b"a-v1\x01\x02");
        assert_ne!(a, b);
    }
}
