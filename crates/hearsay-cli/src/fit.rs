//! Fitting a discrete power law to degree data, for `hearsay analyze` (SPEC §1).
//!
//! The overlay's degree distribution must fit a power law (SPEC §6, Neighbours; PROTOCOL §8).
//! This module says how well it does, by the method of Clauset, Shalizi and Newman
//! ("Power-law distributions in empirical data", SIAM Review 51(4), 2009, §3–§5):
//!
//! - α by discrete maximum likelihood, ln L(α) = −n ln ζ(α, x_min) − α Σ ln xᵢ, which is
//!   concave in α, so a golden-section search finds its maximum;
//! - x_min as the candidate whose fit has the smallest Kolmogorov–Smirnov distance to the tail;
//! - a log-likelihood ratio against a discrete exponential on the same tail, with Vuong's
//!   two-sided p-value for its sign.
//!
//! Pure arithmetic on a slice: no I/O, no randomness. The Hurwitz zeta function and erfc are
//! written here rather than pulled in as a dependency; each is a dozen lines.

use serde::Serialize;

/// Fewest samples ≥ x_min a candidate must leave; below this α and the KS distance are noise.
const MIN_TAIL: usize = 10;
/// Most x_min candidates tried, so a fit of 100,000 samples stays well under a second. When
/// there are more, the smallest half are all tried and the rest are spread evenly by rank.
const MAX_CANDIDATES: usize = 200;
/// The search interval for α. ζ(α, q) diverges at α = 1; nothing degree-like is steeper than 10.
const ALPHA_LO: f64 = 1.000_001;
const ALPHA_HI: f64 = 10.0;
/// Width of the α interval at which the golden-section search stops.
const ALPHA_TOL: f64 = 1e-9;

/// Result of fitting a discrete power law p(x) ∝ x^-α for x ≥ x_min (Clauset, Shalizi, Newman 2009).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PowerLawFit {
    /// The fitted exponent, in (1, 10].
    pub alpha: f64,
    /// The smallest value the power law describes; always one of the data's values.
    pub x_min: u64,
    /// Kolmogorov–Smirnov distance between the data ≥ x_min and the fitted CDF.
    pub ks: f64,
    /// Samples ≥ x_min used in the fit.
    pub n_tail: usize,
    /// Log-likelihood ratio R = ln L_powerlaw − ln L_exponential over the tail (positive favours the power law).
    pub llr: f64,
    /// Two-sided p-value of R (Vuong's normalized test); small p means the sign of R is significant.
    pub p_value: f64,
}

impl PowerLawFit {
    /// Whether the comparison favours the power law over the exponential (R > 0).
    pub fn favours_power_law(&self) -> bool {
        self.llr > 0.0
    }
}

/// Fits `data` (e.g. node degrees; zeros are ignored since a power law needs x ≥ 1). None if fewer than 10 positive samples or all equal.
pub fn fit(data: &[u64]) -> Option<PowerLawFit> {
    let sample = Sample::new(data);
    if sample.n < MIN_TAIL {
        return None;
    }
    let mut best: Option<(usize, f64, f64)> = None; // (run index, α, KS)
    for c in sample.candidates() {
        let alpha = sample.mle_alpha(c);
        let bound = best.map_or(f64::INFINITY, |(_, _, ks)| ks);
        let ks = sample.ks_distance(c, alpha, bound);
        // Strictly smaller: on a tie the smaller x_min, with its larger tail, wins.
        if ks < bound {
            best = Some((c, alpha, ks));
        }
    }
    // No candidate means one distinct value: nothing to fit.
    let (c, alpha, ks) = best?;
    let (llr, p_value) = sample.compare_exponential(c, alpha);
    Some(PowerLawFit {
        alpha,
        x_min: sample.runs[c].value,
        ks,
        n_tail: sample.tail_len(c),
        llr,
        p_value,
    })
}

/// CCDF points (x, P(X ≥ x)) of the positive data, for plotting.
///
/// One point per distinct value, in increasing x; the first is 1.0. Empty if no data is positive.
pub fn ccdf(data: &[u64]) -> Vec<(u64, f64)> {
    let sample = Sample::new(data);
    let n = sample.n as f64;
    sample
        .runs
        .iter()
        .map(|run| (run.value, (sample.n - run.start) as f64 / n))
        .collect()
}

/// The fitted model's CCDF at x (x ≥ x_min), normalised to the tail's share of the data, for the fitted line.
///
/// `fit` must be what [`fit`] returned for `data`. Below x_min the value at x_min is returned;
/// at x_min it equals the [`ccdf`] point there, so the line meets the data.
pub fn model_ccdf(fit: &PowerLawFit, data: &[u64], x: u64) -> f64 {
    let positive = data.iter().filter(|&&v| v > 0).count();
    if positive == 0 {
        return 0.0;
    }
    let share = (fit.n_tail as f64 / positive as f64).min(1.0);
    let x_min = fit.x_min.max(1);
    let x = x.max(x_min);
    share * hurwitz_zeta(fit.alpha, x as f64) / hurwitz_zeta(fit.alpha, x_min as f64)
}

/// One distinct value of the sorted sample and where its copies begin.
#[derive(Clone, Copy, Debug)]
struct Run {
    value: u64,
    /// Index of the first copy in the sorted sample; the next run's `start` ends it.
    start: usize,
}

/// The positive data, sorted and grouped into runs of equal values.
struct Sample {
    runs: Vec<Run>,
    /// Number of positive samples.
    n: usize,
    /// `log_suffix[j]` = Σ ln x over the samples in runs j.. (one extra 0.0 at the end).
    log_suffix: Vec<f64>,
}

impl Sample {
    fn new(data: &[u64]) -> Sample {
        let mut xs: Vec<u64> = data.iter().copied().filter(|&x| x > 0).collect();
        xs.sort_unstable();
        let mut runs: Vec<Run> = Vec::new();
        for (i, &x) in xs.iter().enumerate() {
            if runs.last().is_none_or(|r| r.value != x) {
                runs.push(Run { value: x, start: i });
            }
        }
        let n = xs.len();
        let mut log_suffix = vec![0.0; runs.len() + 1];
        for j in (0..runs.len()).rev() {
            let count = (end_of(&runs, j, n) - runs[j].start) as f64;
            log_suffix[j] = log_suffix[j + 1] + count * (runs[j].value as f64).ln();
        }
        Sample {
            runs,
            n,
            log_suffix,
        }
    }

    /// Samples ≥ the value of run `c`.
    fn tail_len(&self, c: usize) -> usize {
        self.n - self.runs[c].start
    }

    /// Run indices to try as x_min: each leaves at least `MIN_TAIL` samples and at least two
    /// distinct values (a constant tail has no finite α). At most `MAX_CANDIDATES`.
    fn candidates(&self) -> Vec<usize> {
        let usable = self.runs.len().saturating_sub(1);
        // Tails shrink as x_min grows, so the usable runs are a prefix.
        let m = (0..usable)
            .take_while(|&j| self.tail_len(j) >= MIN_TAIL)
            .count();
        if m <= MAX_CANDIDATES {
            return (0..m).collect();
        }
        let dense = MAX_CANDIDATES / 2;
        let sparse = MAX_CANDIDATES - dense;
        let rest = m - dense;
        let mut out: Vec<usize> = (0..dense).collect();
        out.extend((0..sparse).map(|i| dense + i * rest / sparse));
        out
    }

    /// The α maximising the discrete likelihood of the tail from run `c`.
    fn mle_alpha(&self, c: usize) -> f64 {
        let q = self.runs[c].value as f64;
        let mean_log = self.log_suffix[c] / self.tail_len(c) as f64;
        // ln L / n, which has the same maximum and stays O(1) for any n.
        let per_sample = |alpha: f64| -hurwitz_zeta(alpha, q).ln() - alpha * mean_log;
        golden_max(per_sample, ALPHA_LO, ALPHA_HI, ALPHA_TOL)
    }

    /// KS distance between the tail from run `c` and the discrete power law (α, x_min = its value).
    ///
    /// Both CDFs are step functions on the integers; the empirical one is flat between data
    /// values while the model's rises, so the supremum is at a data value v or just before it
    /// (v − 1), and both are checked. Stops early once the distance reaches `bound`, since
    /// such a candidate cannot win; the value returned is then only known to be ≥ `bound`.
    fn ks_distance(&self, c: usize, alpha: f64, bound: f64) -> f64 {
        let start = self.runs[c].start;
        let n_tail = self.tail_len(c) as f64;
        let z0 = hurwitz_zeta(alpha, self.runs[c].value as f64);
        let mut worst = 0.0_f64;
        for j in c..self.runs.len() {
            let v = self.runs[j].value as f64;
            let below = (self.runs[j].start - start) as f64 / n_tail; // empirical P(X < v)
            let upto = (end_of(&self.runs, j, self.n) - start) as f64 / n_tail; // P(X ≤ v)
            let z = if j == c { z0 } else { hurwitz_zeta(alpha, v) }; // ζ(α, v) ∝ P(X ≥ v)
            let model_below = 1.0 - z / z0;
            let model_upto = 1.0 - (z - v.powf(-alpha)) / z0;
            worst = worst
                .max((below - model_below).abs())
                .max((upto - model_upto).abs());
            if worst >= bound {
                break;
            }
        }
        worst
    }

    /// (R, p): the log-likelihood ratio of the power law (α) against a discrete exponential
    /// p(x) = (1 − e^−λ) e^−λ(x − x_min), λ by its own MLE, over the tail from run `c`; and
    /// Vuong's two-sided p-value, erfc(|R| / √(2nσ²)) with σ² the variance of the per-sample
    /// log-ratio (CSN §5.1).
    fn compare_exponential(&self, c: usize, alpha: f64) -> (f64, f64) {
        let tail = &self.runs[c..];
        let x_min = self.runs[c].value;
        let n_tail = self.tail_len(c) as f64;
        let count = |j: usize| (end_of(&self.runs, c + j, self.n) - tail[j].start) as f64;
        let excess = |run: &Run| (run.value - x_min) as f64;

        // The excess y = x − x_min is geometric: e^−λ = ȳ / (1 + ȳ). Candidates have at least
        // two distinct values, so ȳ > 0 and both logarithms are finite.
        let mean_excess = tail
            .iter()
            .enumerate()
            .map(|(j, run)| count(j) * excess(run))
            .sum::<f64>()
            / n_tail;
        let ln_keep = mean_excess.ln() - mean_excess.ln_1p(); // −λ
        let ln_first = -mean_excess.ln_1p(); // ln(1 − e^−λ)
        let ln_zeta = hurwitz_zeta(alpha, x_min as f64).ln();
        let log_ratio = |run: &Run| {
            let power_law = -alpha * (run.value as f64).ln() - ln_zeta;
            let exponential = ln_first + excess(run) * ln_keep;
            power_law - exponential
        };

        let r: f64 = tail
            .iter()
            .enumerate()
            .map(|(j, run)| count(j) * log_ratio(run))
            .sum();
        let mean = r / n_tail;
        let variance = tail
            .iter()
            .enumerate()
            .map(|(j, run)| count(j) * (log_ratio(run) - mean).powi(2))
            .sum::<f64>()
            / n_tail;
        let p = if variance > 0.0 {
            erfc(r.abs() / (2.0 * n_tail * variance).sqrt())
        } else if r == 0.0 {
            1.0
        } else {
            0.0
        };
        (r, p)
    }
}

/// Index one past the last copy of run `j` in the sorted sample of length `n`.
fn end_of(runs: &[Run], j: usize, n: usize) -> usize {
    runs.get(j + 1).map_or(n, |r| r.start)
}

/// The Hurwitz zeta function ζ(s, q) = Σ_{k≥0} (k + q)^−s, for s > 1 and q > 0.
///
/// The first terms are summed directly until the argument reaches 10; the rest by
/// Euler–Maclaurin, ∫ + f(a)/2 + Σ B₂ⱼ/(2j)! · s(s+1)…(s+2j−2) · a^(−s−2j+1), with seven
/// Bernoulli terms. For a ≥ 10 the first neglected term is below 1e-15 of the sum.
fn hurwitz_zeta(s: f64, q: f64) -> f64 {
    debug_assert!(s > 1.0 && q > 0.0, "ζ({s}, {q}) is outside s > 1, q > 0");
    // B₂ⱼ / (2j)! for j = 1..=7.
    const BERNOULLI: [f64; 7] = [
        1.0 / 12.0,
        -1.0 / 720.0,
        1.0 / 30_240.0,
        -1.0 / 1_209_600.0,
        1.0 / 47_900_160.0,
        -691.0 / 1_307_674_368_000.0,
        1.0 / 74_724_249_600.0,
    ];
    let mut sum = 0.0;
    let mut a = q;
    while a < 10.0 {
        sum += a.powf(-s);
        a += 1.0;
    }
    let a_pow = a.powf(-s);
    sum += a * a_pow / (s - 1.0) + 0.5 * a_pow;
    let inv_a2 = 1.0 / (a * a);
    let mut factor = s * a_pow / a; // s(s+1)…(s+2j−2) · a^(−s−2j+1) for j = 1
    for (j, b) in BERNOULLI.iter().enumerate() {
        sum += b * factor;
        let k = 2.0 * (j as f64 + 1.0);
        factor *= (s + k - 1.0) * (s + k) * inv_a2;
    }
    sum
}

/// The complementary error function, with fractional error below 1.2e-7 everywhere
/// (Numerical Recipes' Chebyshev fit, `erfcc`).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The maximiser of a unimodal `f` on [lo, hi], to within `tol`, by golden-section search.
fn golden_max(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64, tol: f64) -> f64 {
    let inv_phi = (5.0_f64.sqrt() - 1.0) / 2.0;
    let mut x1 = hi - inv_phi * (hi - lo);
    let mut x2 = lo + inv_phi * (hi - lo);
    let mut f1 = f(x1);
    let mut f2 = f(x2);
    while hi - lo > tol {
        if f1 < f2 {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + inv_phi * (hi - lo);
            f2 = f(x2);
        } else {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - inv_phi * (hi - lo);
            f1 = f(x1);
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::f64::consts::PI;

    /// `count` draws from the discrete power law (α, x_min) by inverse transform on its exact
    /// CDF: the smallest x with P(X > x) = ζ(α, x+1)/ζ(α, x_min) ≤ 1 − u.
    fn power_law(alpha: f64, x_min: u64, count: usize, rng: &mut ChaCha8Rng) -> Vec<u64> {
        let z0 = hurwitz_zeta(alpha, x_min as f64);
        let above = |x: u64| hurwitz_zeta(alpha, (x + 1) as f64);
        (0..count)
            .map(|_| {
                let target = (1.0 - rng.random::<f64>()) * z0;
                let (mut lo, mut hi) = (x_min, x_min);
                while above(hi) > target {
                    lo = hi + 1;
                    hi = hi * 2 + 1;
                }
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if above(mid) <= target {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                lo
            })
            .collect()
    }

    /// `count` draws from p(x) ∝ e^−λ(x − 1) on x ≥ 1.
    fn geometric(lambda: f64, count: usize, rng: &mut ChaCha8Rng) -> Vec<u64> {
        (0..count)
            .map(|_| 1 + (-(1.0 - rng.random::<f64>()).ln() / lambda).floor() as u64)
            .collect()
    }

    #[test]
    fn hurwitz_zeta_matches_known_values() {
        let cases = [
            (2.0, 1.0, PI * PI / 6.0),
            (3.0, 1.0, 1.202_056_903_159_594),
            (2.0, 2.0, PI * PI / 6.0 - 1.0),
            (4.0, 1.0, PI.powi(4) / 90.0),
            (2.0, 0.5, PI * PI / 2.0),
            // The rest from mpmath.zeta(s, q).
            (2.5, 30.0, 0.004_160_042_573_845_588),
            (6.5, 1.0, 1.012_005_899_888_524_8),
            (1.2, 3.0, 4.156_307_159_529_69),
        ];
        for (s, q, want) in cases {
            let got = hurwitz_zeta(s, q);
            assert!(
                (got - want).abs() < 1e-9,
                "ζ({s}, {q}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn erfc_matches_known_values() {
        let cases = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_1),
            (2.0, 0.004_677_734_981_047_266),
            (-1.0, 1.842_700_792_949_715),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            assert!((got - want).abs() < 2e-7, "erfc({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn fit_recovers_alpha_two_and_a_half_from_twenty_thousand_samples() {
        let mut rng = ChaCha8Rng::seed_from_u64(2009);
        let data = power_law(2.5, 1, 20_000, &mut rng);
        let fit = fit(&data).expect("20,000 varied samples can be fitted");
        eprintln!("α = 2.5, x_min = 1: {fit:?}");
        assert!((fit.alpha - 2.5).abs() <= 0.1, "α̂ = {}", fit.alpha);
        assert!(fit.favours_power_law(), "R = {}", fit.llr);
        assert!(fit.p_value < 0.01, "p = {}", fit.p_value);
        assert!(fit.ks < 0.05, "KS = {}", fit.ks);
    }

    #[test]
    fn exponential_samples_favour_the_exponential() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let data = geometric(0.1, 20_000, &mut rng);
        let fit = fit(&data).expect("20,000 varied samples can be fitted");
        eprintln!("geometric, λ = 0.1: {fit:?}");
        assert!(!fit.favours_power_law(), "R = {}", fit.llr);
        assert!(
            fit.p_value < 0.05,
            "the sign of R is significant: p = {}",
            fit.p_value
        );
    }

    #[test]
    fn fit_finds_x_min_five_under_uniform_small_values() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut data = power_law(3.0, 5, 20_000, &mut rng);
        data.extend((0..4_000).map(|_| rng.random_range(1..5_u64)));
        let fit = fit(&data).expect("24,000 varied samples can be fitted");
        eprintln!("α = 3, x_min = 5, plus uniform 1..=4: {fit:?}");
        assert!(fit.x_min.abs_diff(5) <= 2, "x̂_min = {}", fit.x_min);
        assert!((fit.alpha - 3.0).abs() <= 0.15, "α̂ = {}", fit.alpha);
        assert!(fit.favours_power_law(), "R = {}", fit.llr);
    }

    #[test]
    fn ccdf_starts_at_one_and_never_rises() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut data = power_law(2.2, 1, 2_000, &mut rng);
        data.extend([0, 0, 0]);
        let points = ccdf(&data);
        assert_eq!(points.first(), Some(&(1, 1.0)));
        assert!(points
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 >= w[1].1));
        let last = points.last().expect("the data is not empty");
        assert!(
            (last.1 - 1.0 / 2_000.0).abs() < 1e-12,
            "zeros are not counted"
        );
        assert!(ccdf(&[0, 0]).is_empty());
    }

    #[test]
    fn ccdf_of_a_small_sample_is_exact() {
        assert_eq!(ccdf(&[3, 1, 0, 3, 2]), vec![(1, 1.0), (2, 0.75), (3, 0.5)]);
    }

    #[test]
    fn model_line_meets_the_data_at_x_min_and_falls_after() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut data = power_law(3.0, 5, 5_000, &mut rng);
        data.extend((0..1_000).map(|_| rng.random_range(1..5_u64)));
        let fit = fit(&data).expect("6,000 varied samples can be fitted");
        let at_x_min = ccdf(&data)
            .into_iter()
            .find(|&(x, _)| x == fit.x_min)
            .map(|(_, p)| p)
            .expect("x_min is one of the data's values");
        let line = |x| model_ccdf(&fit, &data, x);
        assert!((line(fit.x_min) - at_x_min).abs() < 1e-12);
        assert!((line(1) - at_x_min).abs() < 1e-12, "below x_min it is flat");
        assert!(line(fit.x_min + 10) < line(fit.x_min + 1));
        assert!(line(fit.x_min + 1) < line(fit.x_min));
    }

    #[test]
    fn fit_needs_ten_positive_varied_samples() {
        assert_eq!(fit(&[]), None);
        assert_eq!(fit(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0]), None);
        assert_eq!(fit(&[7; 1_000]), None);
        assert_eq!(fit(&[0; 1_000]), None);
        assert!(fit(&[1, 1, 1, 1, 1, 2, 2, 3, 4, 9]).is_some());
    }

    #[test]
    fn candidates_are_capped_and_keep_the_smallest_values() {
        let data: Vec<u64> = (1..=5_000).collect();
        let sample = Sample::new(&data);
        let candidates = sample.candidates();
        assert_eq!(candidates.len(), MAX_CANDIDATES);
        assert!(candidates.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(&candidates[..3], &[0, 1, 2]);
        let last = *candidates.last().expect("there are candidates");
        assert!(sample.tail_len(last) >= MIN_TAIL);
        assert!(
            last > 4_900,
            "the spread reaches the large values, got {last}"
        );
    }
}
