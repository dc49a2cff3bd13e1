//! Membership changes, votes and certificates (SPEC §5, PROTOCOL §5).
//!
//! A change is applied only with a certificate: signatures of a quorum of distinct configured
//! seeds over the same yes-vote bytes. A certificate verifies itself, so a lying seed minority
//! can neither forge one nor make an honest seed apply a change it did not get one for.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::id::{Keypair, PeerId, Signature};
use crate::quorum::quorum;
use crate::sig::{signed, Checks};

/// Add or remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Op {
    /// Admit a peer.
    Add,
    /// Remove a peer.
    Remove,
}

impl Op {
    /// `add` or `remove`, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
        }
    }
}

/// One membership change: what a certificate certifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Change {
    /// Add or remove.
    pub op: Op,
    /// The peer concerned.
    pub peer: PeerId,
    /// Its address.
    pub addr: SocketAddr,
    /// The incarnation the change is about.
    pub incarnation: u64,
}

/// A change's identity: the same change proposed through several seeds is one decision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", hex::encode(&self.0[..4]))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0[..4]))
    }
}

impl Change {
    /// The change's digest.
    pub fn digest(&self) -> Digest {
        Digest(*blake3::hash(&signed(b"hearsay-change-v1", self)).as_bytes())
    }

    /// `add` or `remove`, for logs.
    pub fn op_name(&self) -> &'static str {
        self.op.name()
    }
}

/// What a proposal carries so that every seed can check it on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evidence {
    /// The peer's own signed registration (for an add).
    Registration(Registration),
    /// A peer's dead-node report with its witnesses' verdicts (for a removal).
    DeadReport(Box<crate::suspicion::DeadReport>),
}

/// A coordinator's request to every seed: validate this change and vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The change.
    pub change: Change,
    /// Evidence for it.
    pub evidence: Evidence,
    /// Where the request came from, as the coordinator saw it (for rate limits).
    pub source: std::net::IpAddr,
}

/// A seed's signed vote on a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The change voted on.
    pub change: Change,
    /// The voting seed.
    pub voter: PeerId,
    /// Yes or no.
    pub yes: bool,
    /// Why (empty for yes).
    pub reason: String,
    /// The voter's signature over (change digest, yes, reason).
    pub sig: Signature,
}

fn vote_bytes(digest: Digest, yes: bool, reason: &str) -> Vec<u8> {
    signed(b"hearsay-vote-v1", &(digest, yes, reason))
}

impl Vote {
    /// Signs a vote. A yes vote carries no reason, so that every yes signature is over the
    /// same bytes and can go into a certificate.
    pub fn new(key: &Keypair, change: Change, yes: bool, reason: &str) -> Vote {
        let reason = if yes { "" } else { reason };
        Vote {
            change,
            voter: key.id(),
            yes,
            reason: reason.to_string(),
            sig: key.sign(&vote_bytes(change.digest(), yes, reason)),
        }
    }

    /// Whether the voter's signature holds.
    pub fn verify(&self, checks: &Checks) -> bool {
        (!self.yes || self.reason.is_empty())
            && checks.signature(
                &self.voter,
                &vote_bytes(self.change.digest(), self.yes, &self.reason),
                &self.sig,
            )
    }
}

/// A change with the yes signatures of a quorum of seeds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Certificate {
    /// The change.
    pub change: Change,
    /// (seed, its yes signature).
    pub sigs: Vec<(PeerId, Signature)>,
}

/// The configured seeds whose signatures count, and how many there are in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedSet {
    /// Seeds in the config (known key or not).
    pub n: usize,
    /// The keys of configured seeds known so far.
    pub keys: BTreeSet<PeerId>,
}

impl SeedSet {
    /// Signatures a certificate needs.
    pub fn quorum(&self) -> usize {
        quorum(self.n)
    }
}

/// Why a certificate was rejected; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Fewer valid distinct signers than the quorum.
    #[error("only {have} of the {need} seed signatures a quorum needs")]
    TooFewSignatures {
        /// Valid distinct signers.
        have: usize,
        /// The quorum.
        need: usize,
    },
    /// One seed signed twice.
    #[error("seed {0} signed twice")]
    DuplicateSigner(PeerId),
    /// A signer is not a configured seed.
    #[error("signer {0} is not a configured seed")]
    UnknownSigner(PeerId),
    /// A signature does not hold.
    #[error("the signature of seed {0} does not hold")]
    BadSignature(PeerId),
}

impl Certificate {
    /// Builds a certificate from yes votes (the caller checked them).
    pub fn from_votes<'a>(change: Change, votes: impl IntoIterator<Item = &'a Vote>) -> Self {
        Certificate {
            change,
            sigs: votes.into_iter().map(|v| (v.voter, v.sig)).collect(),
        }
    }

    /// Checks every signature: all must be by distinct configured seeds and hold, and there
    /// must be at least a quorum of them.
    pub fn verify(&self, seeds: &SeedSet, checks: &Checks) -> Result<(), CertError> {
        let need = seeds.quorum();
        if self.sigs.len() < need {
            return Err(CertError::TooFewSignatures {
                have: self.sigs.len(),
                need,
            });
        }
        let bytes = vote_bytes(self.change.digest(), true, "");
        let mut seen = BTreeSet::new();
        for (signer, sig) in &self.sigs {
            if !seeds.keys.contains(signer) {
                return Err(CertError::UnknownSigner(*signer));
            }
            if !seen.insert(*signer) {
                return Err(CertError::DuplicateSigner(*signer));
            }
            if !checks.signature(signer, &bytes, sig) {
                return Err(CertError::BadSignature(*signer));
            }
        }
        Ok(())
    }

    /// Whether at least a quorum of distinct seeds whose keys are known signed it, each
    /// signature holding; signatures by keys not known yet are passed over rather than
    /// refused (a peer that missed a seed's key still takes a certificate the others carry).
    pub fn verify_known(&self, seeds: &SeedSet, checks: &Checks) -> bool {
        let bytes = vote_bytes(self.change.digest(), true, "");
        let mut good = BTreeSet::new();
        for (signer, sig) in &self.sigs {
            if seeds.keys.contains(signer)
                && !good.contains(signer)
                && checks.signature(signer, &bytes, sig)
            {
                good.insert(*signer);
            }
        }
        good.len() >= seeds.quorum()
    }

    /// The signing seeds.
    pub fn signers(&self) -> Vec<PeerId> {
        self.sigs.iter().map(|(s, _)| *s).collect()
    }
}

/// Most neighbours in one neighbour report.
pub const MAX_NEIGHBORS: usize = 4096;

/// A peer's signed request to be admitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The peer.
    pub peer: PeerId,
    /// The address it listens on and asks to be known by.
    pub addr: SocketAddr,
    /// Its incarnation: higher after every restart.
    pub incarnation: u64,
    /// The peer's signature over the fields above.
    pub sig: Signature,
}

impl Registration {
    /// Makes a signed registration.
    pub fn new(key: &Keypair, addr: SocketAddr, incarnation: u64) -> Registration {
        let peer = key.id();
        let sig = key.sign(&Self::signed_bytes(peer, addr, incarnation));
        Registration {
            peer,
            addr,
            incarnation,
            sig,
        }
    }

    /// Whether the peer's signature holds.
    pub fn verify(&self, checks: &Checks) -> bool {
        let bytes = Self::signed_bytes(self.peer, self.addr, self.incarnation);
        checks.signature(&self.peer, &bytes, &self.sig)
    }

    fn signed_bytes(peer: PeerId, addr: SocketAddr, incarnation: u64) -> Vec<u8> {
        signed(b"hearsay-register-v1", &(peer, addr, incarnation))
    }
}

/// A peer's signed neighbour set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborReport {
    /// The reporting peer.
    pub peer: PeerId,
    /// Grows with every report of this peer: a lower one is stale.
    pub seq: u64,
    /// Its neighbours, at most [`MAX_NEIGHBORS`], in ascending order, each once (so a seed
    /// can look one up by binary search).
    pub neighbors: Vec<PeerId>,
    /// The peer's signature over the fields above.
    pub sig: Signature,
}

impl NeighborReport {
    /// Makes a signed report (of the neighbours sorted, each once).
    pub fn new(key: &Keypair, seq: u64, mut neighbors: Vec<PeerId>) -> NeighborReport {
        neighbors.sort_unstable();
        neighbors.dedup();
        let peer = key.id();
        let sig = key.sign(&signed(b"hearsay-neighbors-v1", &(peer, seq, &neighbors)));
        NeighborReport {
            peer,
            seq,
            neighbors,
            sig,
        }
    }

    /// Whether the report is within bounds, its neighbours in ascending order each once,
    /// and its signature holds.
    pub fn verify(&self, checks: &Checks) -> bool {
        let sorted = self.neighbors.windows(2).all(|w| w[0] < w[1]);
        if self.neighbors.len() > MAX_NEIGHBORS || !sorted {
            return false;
        }
        let bytes = signed(
            b"hearsay-neighbors-v1",
            &(self.peer, self.seq, &self.neighbors),
        );
        checks.signature(&self.peer, &bytes, &self.sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Keypair {
        Keypair::from_secret([n; 32])
    }

    fn change() -> Change {
        Change {
            op: Op::Add,
            peer: key(100).id(),
            addr: "127.0.0.1:7000".parse().unwrap(),
            incarnation: 1,
        }
    }

    /// Seeds 1..=n, all keys known.
    fn seeds(n: u8) -> SeedSet {
        SeedSet {
            n: n as usize,
            keys: (1..=n).map(|i| key(i).id()).collect(),
        }
    }

    fn cert(signers: &[u8]) -> Certificate {
        let votes: Vec<Vote> = signers
            .iter()
            .map(|&i| Vote::new(&key(i), change(), true, ""))
            .collect();
        Certificate::from_votes(change(), &votes)
    }

    #[test]
    fn a_certificate_with_a_quorum_of_distinct_seeds_verifies() {
        assert_eq!(cert(&[1, 2]).verify(&seeds(3), &Checks::default()), Ok(()));
        assert_eq!(
            cert(&[1, 2, 3]).verify(&seeds(3), &Checks::default()),
            Ok(())
        );
        assert_eq!(
            cert(&[2, 4, 5]).verify(&seeds(5), &Checks::default()),
            Ok(())
        );
    }

    #[test]
    fn a_certificate_with_fewer_than_q_signatures_is_rejected() {
        assert_eq!(
            cert(&[1]).verify(&seeds(3), &Checks::default()),
            Err(CertError::TooFewSignatures { have: 1, need: 2 })
        );
        assert_eq!(
            cert(&[1, 2]).verify(&seeds(5), &Checks::default()),
            Err(CertError::TooFewSignatures { have: 2, need: 3 })
        );
    }

    #[test]
    fn a_duplicated_signer_is_rejected() {
        assert_eq!(
            cert(&[1, 1]).verify(&seeds(3), &Checks::default()),
            Err(CertError::DuplicateSigner(key(1).id()))
        );
    }

    #[test]
    fn a_signer_not_in_the_config_is_rejected() {
        assert_eq!(
            cert(&[1, 9]).verify(&seeds(3), &Checks::default()),
            Err(CertError::UnknownSigner(key(9).id()))
        );
    }

    /// `verify_known` passes over signers it does not know, but still wants a quorum of
    /// distinct known seeds whose signatures hold.
    #[test]
    fn verify_known_counts_only_distinct_known_seeds_whose_signatures_hold() {
        let checks = Checks::default();
        let two_known = SeedSet {
            n: 3,
            keys: [key(1).id(), key(2).id()].into(),
        };
        assert!(cert(&[1, 2]).verify_known(&two_known, &checks));
        assert!(
            cert(&[3, 1, 2]).verify_known(&two_known, &checks),
            "3 unknown"
        );
        assert!(!cert(&[1, 3]).verify_known(&two_known, &checks));
        assert!(!cert(&[1, 1]).verify_known(&seeds(3), &checks));
        assert!(!cert(&[1, 9]).verify_known(&seeds(3), &checks));
        let mut forged = cert(&[1, 2]);
        forged.sigs[1].1 = forged.sigs[0].1;
        assert!(!forged.verify_known(&seeds(3), &checks));
        assert!(!cert(&[1, 2]).verify_known(&seeds(5), &checks), "q = 3");
    }

    #[test]
    fn a_bad_signature_is_rejected() {
        let mut c = cert(&[1, 2]);
        c.sigs[1].1 = c.sigs[0].1; // seed 1's signature under seed 2's name
        assert_eq!(
            c.verify(&seeds(3), &Checks::default()),
            Err(CertError::BadSignature(key(2).id()))
        );
    }

    #[test]
    fn a_certificate_does_not_carry_over_to_another_change() {
        let mut c = cert(&[1, 2]);
        c.change.incarnation = 2;
        assert_eq!(
            c.verify(&seeds(3), &Checks::default()),
            Err(CertError::BadSignature(key(1).id()))
        );
        let mut c = cert(&[1, 2]);
        c.change.op = Op::Remove;
        assert!(c.verify(&seeds(3), &Checks::default()).is_err());
    }

    #[test]
    fn no_votes_cannot_make_a_certificate() {
        let votes: Vec<Vote> = [1, 2]
            .iter()
            .map(|&i| Vote::new(&key(i), change(), false, "dial-back failed"))
            .collect();
        assert!(votes.iter().all(|v| v.verify(&Checks::default())));
        let c = Certificate::from_votes(change(), &votes);
        assert_eq!(
            c.verify(&seeds(3), &Checks::default()),
            Err(CertError::BadSignature(key(1).id()))
        );
    }

    #[test]
    fn a_yes_vote_with_a_smuggled_reason_does_not_verify() {
        let mut v = Vote::new(&key(1), change(), true, "");
        assert!(v.verify(&Checks::default()));
        v.reason = "x".into();
        assert!(!v.verify(&Checks::default()));
    }

    #[test]
    fn the_same_change_has_the_same_digest() {
        assert_eq!(change().digest(), change().digest());
        let mut other = change();
        other.incarnation = 2;
        assert_ne!(change().digest(), other.digest());
    }

    #[test]
    fn a_neighbour_report_is_sorted_and_one_out_of_order_is_refused_though_signed() {
        let k = key(1);
        let (a, b) = (key(2).id().min(key(3).id()), key(2).id().max(key(3).id()));
        let r = NeighborReport::new(&k, 1, vec![b, a, b]);
        assert_eq!(r.neighbors, vec![a, b]);
        assert!(r.verify(&Checks::default()));
        // Validly signed, but out of order: a seed's binary search could miss a neighbour.
        let unsorted = vec![b, a];
        let bad = NeighborReport {
            sig: k.sign(&signed(b"hearsay-neighbors-v1", &(k.id(), 2u64, &unsorted))),
            seq: 2,
            neighbors: unsorted,
            peer: k.id(),
        };
        assert!(!bad.verify(&Checks::default()));
    }

    #[test]
    fn a_registration_verifies_and_an_altered_one_does_not() {
        let addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let reg = Registration::new(&key(1), addr, 3);
        assert!(reg.verify(&Checks::default()));
        let mut moved = reg.clone();
        moved.addr = "127.0.0.1:7001".parse().unwrap();
        assert!(!moved.verify(&Checks::default()));
        let mut bumped = reg;
        bumped.incarnation = 4;
        assert!(!bumped.verify(&Checks::default()));
    }

    #[test]
    fn a_neighbor_report_over_the_bound_does_not_verify() {
        let ok = NeighborReport::new(&key(1), 1, vec![key(2).id()]);
        assert!(ok.verify(&Checks::default()));
        // Distinct ids: a report is deduplicated when made.
        let many = (0..=MAX_NEIGHBORS as u32)
            .map(|i| {
                let mut secret = [0; 32];
                secret[..4].copy_from_slice(&i.to_le_bytes());
                Keypair::from_secret(secret).id()
            })
            .collect();
        let big = NeighborReport::new(&key(1), 1, many);
        assert_eq!(big.neighbors.len(), MAX_NEIGHBORS + 1);
        assert!(!big.verify(&Checks::default()));
    }
}
