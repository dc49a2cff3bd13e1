//! Preferential attachment: how a peer picks its neighbours (SPEC §6, Neighbours).
//!
//! Each candidate is drawn with probability proportional to (degree + 1), so well-connected
//! peers attract more links and the overlay's degree distribution follows a power law; the
//! +1 gives a fresh peer of degree 0 a chance too. The randomness is a caller's RNG, so a
//! seeded RNG gives the same choice every time.

use rand::Rng;

/// Picks up to `k` distinct candidates, each draw with probability proportional to (degree + 1)
/// among those not yet picked (weighted sampling without replacement). Returns fewer if there
/// are fewer candidates. Deterministic for a given rng state.
///
/// Candidates are told apart by their position in `candidates`: the caller passes each
/// candidate once. The result is in draw order. Any degree is accepted (weights are summed in
/// `u128`, so no degree overflows). Costs O(n · k) time and O(k) memory for n candidates.
pub fn choose<T: Clone, R: Rng + ?Sized>(
    candidates: &[(T, usize)],
    k: usize,
    rng: &mut R,
) -> Vec<T> {
    let k = k.min(candidates.len());
    let mut chosen = Vec::with_capacity(k);
    // Indices already picked, kept sorted for a binary search.
    let mut picked: Vec<usize> = Vec::with_capacity(k);
    let mut total: u128 = candidates.iter().map(|(_, degree)| weight(*degree)).sum();

    for _ in 0..k {
        // Every weight is at least 1, so while a candidate is left, total > 0.
        if total == 0 {
            break;
        }
        let mut target = rng.random_range(0..total);
        let mut hit = None;
        for (i, (_, degree)) in candidates.iter().enumerate() {
            if picked.binary_search(&i).is_ok() {
                continue;
            }
            let w = weight(*degree);
            if target < w {
                hit = Some(i);
                break;
            }
            target -= w;
        }
        let Some(i) = hit else { break };
        total -= weight(candidates[i].1);
        if let Err(at) = picked.binary_search(&i) {
            picked.insert(at, i);
        }
        chosen.push(candidates[i].0.clone());
    }
    chosen
}

fn weight(degree: usize) -> u128 {
    degree as u128 + 1
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn choose_returns_k_distinct_candidates() {
        let candidates: Vec<(u32, usize)> = (0..20).map(|i| (i, i as usize % 5)).collect();
        let mut rng = rng();
        for _ in 0..200 {
            let picked = choose(&candidates, 3, &mut rng);
            assert_eq!(picked.len(), 3);
            let distinct: BTreeSet<_> = picked.iter().collect();
            assert_eq!(distinct.len(), 3, "{picked:?}");
        }
    }

    #[test]
    fn choose_returns_every_candidate_when_there_are_fewer_than_k() {
        let candidates = [("a", 0), ("b", 5), ("c", 1)];
        for k in [3, 4, 100] {
            let picked: BTreeSet<_> = choose(&candidates, k, &mut rng()).into_iter().collect();
            assert_eq!(picked, BTreeSet::from(["a", "b", "c"]), "k = {k}");
        }
    }

    #[test]
    fn choose_from_no_candidates_or_for_k_zero_returns_nothing() {
        let none: [(u8, usize); 0] = [];
        assert!(choose(&none, 3, &mut rng()).is_empty());
        assert!(choose(&[(1u8, 4)], 0, &mut rng()).is_empty());
    }

    #[test]
    fn choose_is_deterministic_for_a_given_seed() {
        let candidates: Vec<(u32, usize)> = (0..1000).map(|i| (i, i as usize % 17)).collect();
        let a = choose(&candidates, 5, &mut ChaCha8Rng::seed_from_u64(42));
        let b = choose(&candidates, 5, &mut ChaCha8Rng::seed_from_u64(42));
        assert_eq!(a, b);
    }

    #[test]
    fn choose_accepts_the_largest_degrees_without_overflow() {
        let candidates = [("a", usize::MAX), ("b", usize::MAX), ("c", 0)];
        let picked: BTreeSet<_> = choose(&candidates, 3, &mut rng()).into_iter().collect();
        assert_eq!(picked.len(), 3);
    }

    const DRAWS: usize = 40_000;

    /// How often each of `degrees.len()` candidates appears in `DRAWS` calls of `choose(.., k)`.
    fn frequencies(degrees: &[usize], k: usize) -> Vec<f64> {
        let candidates: Vec<(usize, usize)> = degrees.iter().copied().enumerate().collect();
        let mut counts = vec![0usize; degrees.len()];
        let mut rng = rng();
        for _ in 0..DRAWS {
            for i in choose(&candidates, k, &mut rng) {
                counts[i] += 1;
            }
        }
        counts.iter().map(|&c| c as f64 / DRAWS as f64).collect()
    }

    #[test]
    fn a_single_pick_is_proportional_to_degree_plus_one() {
        // SPEC §6: weights 1, 2, 4, 8 out of 15. Uniform picks (0.25 each) would fail this.
        let freq = frequencies(&[0, 1, 3, 7], 1);
        let expected = [1.0 / 15.0, 2.0 / 15.0, 4.0 / 15.0, 8.0 / 15.0];
        for (i, (f, e)) in freq.iter().zip(expected).enumerate() {
            assert!((f - e).abs() < 0.01, "candidate {i}: {f:.4} vs {e:.4}");
        }
    }

    #[test]
    fn two_picks_match_weighted_sampling_without_replacement() {
        // P(i is picked) = p_i + Σ_{j≠i} p_j · w_i / (W - w_j) for two successive draws.
        let degrees = [0, 1, 3, 7];
        let w: Vec<f64> = degrees.iter().map(|&d| d as f64 + 1.0).collect();
        let total: f64 = w.iter().sum();
        let freq = frequencies(&degrees, 2);
        for i in 0..w.len() {
            let second: f64 = (0..w.len())
                .filter(|&j| j != i)
                .map(|j| w[j] / total * w[i] / (total - w[j]))
                .sum();
            let expected = w[i] / total + second;
            assert!(
                (freq[i] - expected).abs() < 0.01,
                "candidate {i}: {:.4} vs {expected:.4}",
                freq[i]
            );
        }
        // And the plain claim: higher degree, more links.
        assert!(
            freq.windows(2).all(|pair| pair[0] + 0.1 < pair[1]),
            "{freq:?}"
        );
    }

    #[test]
    fn choose_handles_a_hundred_thousand_candidates() {
        let candidates: Vec<(u32, usize)> = (0..100_000).map(|i| (i, i as usize % 50)).collect();
        let mut rng = rng();
        for _ in 0..10 {
            let picked = choose(&candidates, 3, &mut rng);
            let distinct: BTreeSet<_> = picked.iter().collect();
            assert_eq!(distinct.len(), 3);
        }
    }
}
