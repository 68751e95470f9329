//! Exact, deterministic t-SNE (van der Maaten & Hinton 2008) for Fig. 4d of
//! Podlaski & Machens (NeurIPS 2020): a 2-D map of the 30-dimensional autoencoder
//! codes of MNIST digits, coloured by class.
//!
//! Input affinities come from exact k-nearest neighbours (k = 3·perplexity) and a
//! per-point Gaussian bandwidth found by bisection; output affinities are Student-t.
//! The gradient's attractive part runs over the sparse P, the repulsive part over all
//! pairs exactly (O(n²) per iteration, fine up to n ≈ 3000), so there is no
//! Barnes–Hut or FFT approximation to depend on tree layout or thread scheduling.
//!
//! **Determinism:** everything runs on the calling thread with fixed summation orders
//! (neighbour ties broken by index, rows of P sorted by column, pairs visited in index
//! order) and the initial embedding is drawn from a ChaCha8 stream of the seed. The
//! same input and seed therefore give bit-identical output on the same machine,
//! whatever the thread count of any surrounding pool. Only `exp`, `ln`, `sin` and
//! `cos` come from the platform's libm, so other machines may differ in the last bits.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Settings of one t-SNE run; the defaults are those of the reference implementation
/// (bhtsne) and of van der Maaten & Hinton (2008).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TsneConfig {
    /// Effective number of neighbours, `2^H(P_i)`.
    pub perplexity: f64,
    /// Gradient-descent iterations in total, including the exaggeration phase.
    pub iterations: usize,
    /// Step size η; [`TsneConfig::AUTO_LEARNING_RATE`] (or any value ≤ 0) selects
    /// `max(n / 12, 50)` (Belkina et al. 2019).
    pub learning_rate: f64,
    /// Factor on P during the first `exaggeration_iters` iterations.
    pub early_exaggeration: f64,
    /// Length of the early-exaggeration phase; momentum switches from 0.5 to 0.8 at
    /// its end.
    pub exaggeration_iters: usize,
    /// Seed of the ChaCha8 stream for the initial embedding.
    pub seed: u64,
    /// Neighbours per point in the sparse P; `None` means `⌊3·perplexity⌋`.
    pub neighbours: Option<usize>,
}

impl TsneConfig {
    /// Marker for `learning_rate` that selects `max(n / 12, 50)`.
    pub const AUTO_LEARNING_RATE: f64 = 0.0;

    /// The step size used for `n` points.
    pub fn learning_rate_for(&self, n: usize) -> f64 {
        if self.learning_rate > 0.0 {
            self.learning_rate
        } else {
            (n as f64 / 12.0).max(50.0)
        }
    }

    /// The number of neighbours k of the sparse P.
    pub fn neighbours_for(&self) -> usize {
        self.neighbours
            .unwrap_or((3.0 * self.perplexity).floor() as usize)
    }
}

impl Default for TsneConfig {
    fn default() -> Self {
        TsneConfig {
            perplexity: 30.0,
            iterations: 1000,
            learning_rate: 200.0,
            early_exaggeration: 12.0,
            exaggeration_iters: 250,
            seed: 0,
            neighbours: None,
        }
    }
}

/// A 2-D embedding and the KL divergence it reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// One point per input row, centred on the origin.
    pub points: Vec<[f64; 2]>,
    /// `KL(P‖Q) = Σ p_ij ln(p_ij / q_ij)` over the sparse P (without exaggeration)
    /// at the final embedding, in nats.
    pub kl_divergence: f64,
}

/// Why a t-SNE run cannot start; every check happens before any work is done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TsneError {
    #[error(
        "t-SNE input has {len} values but n·d = {n}·{d}; pass n points of dimension d ≥ 1, row-major"
    )]
    BadShape { len: usize, n: usize, d: usize },
    #[error("t-SNE input is not finite at point {point}, coordinate {coord} ({value}); remove or impute such rows first")]
    NonFinite {
        point: usize,
        coord: usize,
        value: f64,
    },
    #[error(
        "t-SNE with perplexity {perplexity} uses {neighbours} neighbours per point and needs more than {neighbours} points, got {n}; lower the perplexity or pass more points"
    )]
    TooFewPoints {
        n: usize,
        perplexity: f64,
        neighbours: usize,
    },
    #[error("invalid t-SNE setting: {0}")]
    Config(String),
}

/// Embeds `n` points of dimension `d` (row-major, `data[i*d..(i+1)*d]`) in 2-D.
///
/// Runs single-threaded in O(n²) time per iteration and O(n·k) memory; see the
/// module documentation for why the result is exact and bit-reproducible.
pub fn tsne(data: &[f64], n: usize, d: usize, cfg: &TsneConfig) -> Result<Embedding, TsneError> {
    let k = validate(data, n, d, cfg)?;
    let p = joint_probabilities(data, n, d, k, cfg.perplexity);
    let (mut y0, mut y1) = initial_embedding(n, cfg.seed);
    optimise(&p, &mut y0, &mut y1, cfg);
    let kl_divergence = kl_divergence(&p, &y0, &y1);
    Ok(Embedding {
        points: y0.iter().zip(&y1).map(|(&a, &b)| [a, b]).collect(),
        kl_divergence,
    })
}

/// Checks shapes, values and settings; returns the number of neighbours k.
fn validate(data: &[f64], n: usize, d: usize, cfg: &TsneConfig) -> Result<usize, TsneError> {
    if d == 0 || n.checked_mul(d) != Some(data.len()) {
        return Err(TsneError::BadShape {
            len: data.len(),
            n,
            d,
        });
    }
    if let Some(at) = data.iter().position(|v| !v.is_finite()) {
        return Err(TsneError::NonFinite {
            point: at / d,
            coord: at % d,
            value: data[at],
        });
    }
    let perplexity = cfg.perplexity;
    if !(perplexity.is_finite() && perplexity >= 1.0) {
        return Err(TsneError::Config(format!(
            "perplexity must be a finite number ≥ 1, got {perplexity}"
        )));
    }
    let k = cfg.neighbours_for();
    if (k as f64) <= perplexity {
        return Err(TsneError::Config(format!(
            "{k} neighbours cannot reach perplexity {perplexity}; use more than {perplexity} neighbours (default 3·perplexity)"
        )));
    }
    if n <= k {
        return Err(TsneError::TooFewPoints {
            n,
            perplexity,
            neighbours: k,
        });
    }
    if !cfg.learning_rate.is_finite() {
        return Err(TsneError::Config(format!(
            "learning_rate must be finite (≤ 0 selects max(n/12, 50)), got {}",
            cfg.learning_rate
        )));
    }
    if !(cfg.early_exaggeration.is_finite() && cfg.early_exaggeration > 0.0) {
        return Err(TsneError::Config(format!(
            "early_exaggeration must be a finite positive number, got {}",
            cfg.early_exaggeration
        )));
    }
    Ok(k)
}

/// Symmetric joint probabilities in compressed-row form; each row's columns are
/// sorted, which fixes the summation order of the attractive forces.
#[derive(Clone, Debug)]
pub(crate) struct SparseP {
    pub(crate) row_start: Vec<usize>,
    pub(crate) col: Vec<usize>,
    pub(crate) val: Vec<f64>,
}

impl SparseP {
    fn n(&self) -> usize {
        self.row_start.len() - 1
    }

    fn row(&self, i: usize) -> (&[usize], &[f64]) {
        let r = self.row_start[i]..self.row_start[i + 1];
        (&self.col[r.clone()], &self.val[r])
    }
}

/// `p_ij = (p_{j|i} + p_{i|j}) / 2n` over the k nearest neighbours of every point
/// (van der Maaten & Hinton 2008, Sec. 3.1; sparse as in van der Maaten 2014).
pub(crate) fn joint_probabilities(
    data: &[f64],
    n: usize,
    d: usize,
    k: usize,
    perplexity: f64,
) -> SparseP {
    let (nbr, dist2) = nearest_neighbours(data, n, d, k);
    let mut cond = vec![0.0; n * k];
    for i in 0..n {
        conditional_row(
            &dist2[i * k..(i + 1) * k],
            perplexity,
            &mut cond[i * k..(i + 1) * k],
        );
    }
    symmetrise(n, k, &nbr, &cond)
}

/// Exact k nearest neighbours of every point by brute force, with squared Euclidean
/// distances; ties are broken by the smaller index, so the result is unique.
/// Returns `(indices, squared distances)`, both n×k row-major, nearest first.
pub(crate) fn nearest_neighbours(
    data: &[f64],
    n: usize,
    d: usize,
    k: usize,
) -> (Vec<usize>, Vec<f64>) {
    let mut nbr = Vec::with_capacity(n * k);
    let mut dist2 = Vec::with_capacity(n * k);
    let mut cand: Vec<(f64, usize)> = Vec::with_capacity(n - 1);
    let by_distance_then_index =
        |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    for i in 0..n {
        let xi = &data[i * d..(i + 1) * d];
        cand.clear();
        cand.extend((0..n).filter(|&j| j != i).map(|j| {
            let xj = &data[j * d..(j + 1) * d];
            let s: f64 = xi.iter().zip(xj).map(|(a, b)| (a - b) * (a - b)).sum();
            (s, j)
        }));
        if k < cand.len() {
            cand.select_nth_unstable_by(k, by_distance_then_index);
        }
        let nearest = &mut cand[..k];
        nearest.sort_unstable_by(by_distance_then_index);
        for &(s, j) in nearest.iter() {
            dist2.push(s);
            nbr.push(j);
        }
    }
    (nbr, dist2)
}

/// Most bisection steps for one bandwidth; each halves the bracket after it is found.
const MAX_BISECTION_STEPS: usize = 200;
/// Tolerance on the entropy, in nats.
const ENTROPY_TOLERANCE: f64 = 1e-10;

/// Eq. (1) and the perplexity definition of van der Maaten & Hinton (2008):
/// `p_{j|i} ∝ exp(-β_i d_ij²)` with β_i found by bisection so that the row's Shannon
/// entropy equals `ln(perplexity)`. Writes the normalised row to `p` and returns β_i.
///
/// Distances are shifted by their minimum before exponentiating, which leaves the
/// normalised row unchanged but keeps at least one term equal to 1 (no underflow).
pub(crate) fn conditional_row(dist2: &[f64], perplexity: f64, p: &mut [f64]) -> f64 {
    let target = perplexity.ln();
    let d_min = dist2.iter().copied().fold(f64::INFINITY, f64::min);
    let mut beta = 1.0;
    let (mut lo, mut hi) = (0.0, f64::INFINITY);
    let mut sum = 0.0;
    for step in 0..MAX_BISECTION_STEPS {
        let mut weighted = 0.0;
        sum = 0.0;
        for (pj, &dj) in p.iter_mut().zip(dist2) {
            let shifted = dj - d_min;
            *pj = (-beta * shifted).exp();
            sum += *pj;
            weighted += shifted * *pj;
        }
        let entropy = sum.ln() + beta * weighted / sum;
        if (entropy - target).abs() < ENTROPY_TOLERANCE || step + 1 == MAX_BISECTION_STEPS {
            break;
        }
        let next = if entropy > target {
            lo = beta;
            if hi.is_finite() {
                0.5 * (beta + hi)
            } else {
                2.0 * beta
            }
        } else {
            hi = beta;
            0.5 * (beta + lo)
        };
        if next == beta {
            break;
        }
        beta = next;
    }
    for pj in p.iter_mut() {
        *pj /= sum;
    }
    beta
}

/// Builds the symmetric sparse P from the conditional rows: entry (i, j) collects
/// `p_{j|i}` from row i and `p_{i|j}` from row j (when i is among j's neighbours).
fn symmetrise(n: usize, k: usize, nbr: &[usize], cond: &[f64]) -> SparseP {
    let mut count = vec![k; n];
    for &j in nbr {
        count[j] += 1;
    }
    let mut start = vec![0; n + 1];
    for i in 0..n {
        start[i + 1] = start[i] + count[i];
    }
    let mut fill = start[..n].to_vec();
    let mut entries = vec![(0usize, 0.0f64); start[n]];
    for i in 0..n {
        for m in i * k..(i + 1) * k {
            let (j, v) = (nbr[m], cond[m]);
            entries[fill[i]] = (j, v);
            fill[i] += 1;
            entries[fill[j]] = (i, v);
            fill[j] += 1;
        }
    }
    let scale = 1.0 / (2.0 * n as f64);
    let mut p = SparseP {
        row_start: Vec::with_capacity(n + 1),
        col: Vec::with_capacity(start[n]),
        val: Vec::with_capacity(start[n]),
    };
    p.row_start.push(0);
    for i in 0..n {
        let row = &mut entries[start[i]..start[i + 1]];
        row.sort_by_key(|e| e.0);
        let mut m = 0;
        while m < row.len() {
            let (j, mut v) = row[m];
            m += 1;
            // At most two entries share a column, so this sum is order-independent.
            while m < row.len() && row[m].0 == j {
                v += row[m].1;
                m += 1;
            }
            p.col.push(j);
            p.val.push(v * scale);
        }
        p.row_start.push(p.col.len());
    }
    p
}

/// Standard deviation of the initial embedding, as in the reference implementation.
const INITIAL_STD: f64 = 1e-4;

/// `y_i ~ N(0, 10⁻⁸ I)` by Box–Muller on a ChaCha8 stream of `seed`, drawn in the
/// order y_0 (both coordinates), y_1, ….
fn initial_embedding(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut y0 = Vec::with_capacity(n);
    let mut y1 = Vec::with_capacity(n);
    for _ in 0..n {
        // 1 - U(0, 1] keeps the logarithm finite.
        let u1 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        y0.push(INITIAL_STD * r * c);
        y1.push(INITIAL_STD * r * s);
    }
    (y0, y1)
}

const INITIAL_MOMENTUM: f64 = 0.5;
const FINAL_MOMENTUM: f64 = 0.8;
const MIN_GAIN: f64 = 0.01;

/// Gradient descent with momentum and delta-bar-delta gains (Jacobs 1988), as in
/// van der Maaten & Hinton (2008), Sec. 3.4 and the reference implementation.
fn optimise(p: &SparseP, y0: &mut [f64], y1: &mut [f64], cfg: &TsneConfig) {
    let n = p.n();
    let eta = cfg.learning_rate_for(n);
    let mut grad = [vec![0.0; n], vec![0.0; n]];
    let mut velocity = [vec![0.0; n], vec![0.0; n]];
    let mut gains = [vec![1.0; n], vec![1.0; n]];
    for iter in 0..cfg.iterations {
        let early = iter < cfg.exaggeration_iters;
        let exaggeration = if early { cfg.early_exaggeration } else { 1.0 };
        let momentum = if early {
            INITIAL_MOMENTUM
        } else {
            FINAL_MOMENTUM
        };
        let [g0, g1] = &mut grad;
        gradient(p, exaggeration, y0, y1, g0, g1);
        for (c, y) in [&mut *y0, &mut *y1].into_iter().enumerate() {
            step(y, &mut velocity[c], &mut gains[c], &grad[c], momentum, eta);
            centre(y);
        }
    }
}

/// One momentum step of one coordinate: the gain grows by 0.2 while the gradient
/// keeps pushing the same way as the velocity and shrinks by 0.8 otherwise.
fn step(
    y: &mut [f64],
    velocity: &mut [f64],
    gains: &mut [f64],
    grad: &[f64],
    momentum: f64,
    eta: f64,
) {
    for i in 0..y.len() {
        let g = grad[i];
        let gain = if sign(g) != sign(velocity[i]) {
            gains[i] + 0.2
        } else {
            gains[i] * 0.8
        };
        gains[i] = gain.max(MIN_GAIN);
        velocity[i] = momentum * velocity[i] - eta * gains[i] * g;
        y[i] += velocity[i];
    }
}

fn sign(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if x < 0.0 {
        -1.0
    } else {
        1.0
    }
}

fn centre(y: &mut [f64]) {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    for v in y {
        *v -= mean;
    }
}

/// Eq. (5) of van der Maaten & Hinton (2008) divided by 4, as in the reference
/// implementation (so learning rates carry over):
/// `∂C/∂y_i / 4 = α Σ_j p_ij w_ij (y_i − y_j) − Σ_j w_ij² (y_i − y_j) / Z`
/// with `w_ij = (1 + |y_i − y_j|²)⁻¹`, `Z = Σ_{k≠l} w_kl` and exaggeration α.
/// Writes the gradient to `g0`, `g1`.
pub(crate) fn gradient(
    p: &SparseP,
    exaggeration: f64,
    y0: &[f64],
    y1: &[f64],
    g0: &mut [f64],
    g1: &mut [f64],
) {
    let z = repulsion(y0, y1, g0, g1);
    for i in 0..p.n() {
        let (cols, vals) = p.row(i);
        let (mut a0, mut a1) = (0.0, 0.0);
        for (&j, &pij) in cols.iter().zip(vals) {
            let (d0, d1) = (y0[i] - y0[j], y1[i] - y1[j]);
            let w = 1.0 / (1.0 + d0 * d0 + d1 * d1);
            a0 += pij * w * d0;
            a1 += pij * w * d1;
        }
        g0[i] = exaggeration * a0 - g0[i] / z;
        g1[i] = exaggeration * a1 - g1[i] / z;
    }
}

/// Pairs handled side by side in the repulsion loop. Each lane keeps its own partial
/// sums, combined in a fixed order, so the arithmetic is the same whether or not the
/// compiler turns the lanes into SIMD instructions.
const LANES: usize = 16;

/// Exact repulsion: writes `Σ_j w_ij² (y_i − y_j)` to `r0`, `r1` and returns
/// `Z = Σ_{i≠j} w_ij`. Each pair is visited once (i < j); row i's partial sums run
/// over j in blocks of [`LANES`], then the remainder, in index order.
// Kept out of line: inlined into the optimiser loop, LLVM stops vectorising the lanes.
#[inline(never)]
fn repulsion(y0: &[f64], y1: &[f64], r0: &mut [f64], r1: &mut [f64]) -> f64 {
    let n = y0.len();
    r0.fill(0.0);
    r1.fill(0.0);
    let mut z = 0.0;
    for i in 0..n {
        let (a0, a1) = (y0[i], y1[i]);
        let (mut f0, mut f1, mut zi) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
        let (b0, b1) = (&y0[i + 1..], &y1[i + 1..]);
        let (s0, s1) = (&mut r0[i + 1..], &mut r1[i + 1..]);
        let blocks = b0.len() / LANES * LANES;
        for (((b0, b1), s0), s1) in b0[..blocks]
            .chunks_exact(LANES)
            .zip(b1[..blocks].chunks_exact(LANES))
            .zip(s0[..blocks].chunks_exact_mut(LANES))
            .zip(s1[..blocks].chunks_exact_mut(LANES))
        {
            let (b0, b1): (&[f64; LANES], &[f64; LANES]) = (lanes(b0), lanes(b1));
            let (s0, s1): (&mut [f64; LANES], &mut [f64; LANES]) = (lanes_mut(s0), lanes_mut(s1));
            for l in 0..LANES {
                let (d0, d1) = (a0 - b0[l], a1 - b1[l]);
                let w = 1.0 / (1.0 + d0 * d0 + d1 * d1);
                let w2 = w * w;
                zi[l] += w;
                f0[l] += w2 * d0;
                f1[l] += w2 * d1;
                s0[l] -= w2 * d0;
                s1[l] -= w2 * d1;
            }
        }
        let (mut g0, mut g1, mut zr) = (lane_sum(&f0), lane_sum(&f1), lane_sum(&zi));
        for j in blocks..b0.len() {
            let (d0, d1) = (a0 - b0[j], a1 - b1[j]);
            let w = 1.0 / (1.0 + d0 * d0 + d1 * d1);
            let w2 = w * w;
            zr += w;
            g0 += w2 * d0;
            g1 += w2 * d1;
            s0[j] -= w2 * d0;
            s1[j] -= w2 * d1;
        }
        r0[i] += g0;
        r1[i] += g1;
        z += 2.0 * zr;
    }
    z
}

fn lanes(chunk: &[f64]) -> &[f64; LANES] {
    chunk.try_into().expect("chunk of LANES values")
}

fn lanes_mut(chunk: &mut [f64]) -> &mut [f64; LANES] {
    chunk.try_into().expect("chunk of LANES values")
}

/// Pairwise sum of the lanes in a fixed tree order.
fn lane_sum(v: &[f64; LANES]) -> f64 {
    let mut half = *v;
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            half[l] += half[l + width];
        }
    }
    half[0]
}

/// `Z = Σ_{i≠j} (1 + |y_i − y_j|²)⁻¹`, pairs in the same order as [`repulsion`].
fn normalisation(y0: &[f64], y1: &[f64]) -> f64 {
    let n = y0.len();
    let mut z = 0.0;
    for i in 0..n {
        let (a0, a1) = (y0[i], y1[i]);
        let mut zi = 0.0;
        for (&b0, &b1) in y0[i + 1..].iter().zip(&y1[i + 1..]) {
            let (d0, d1) = (a0 - b0, a1 - b1);
            zi += 1.0 / (1.0 + d0 * d0 + d1 * d1);
        }
        z += 2.0 * zi;
    }
    z
}

/// Eq. (2) of van der Maaten & Hinton (2008), exactly over the sparse P:
/// `KL(P‖Q) = Σ_ij p_ij ln(p_ij / q_ij)` with `q_ij = w_ij / Z`.
pub(crate) fn kl_divergence(p: &SparseP, y0: &[f64], y1: &[f64]) -> f64 {
    let z = normalisation(y0, y1);
    let mut kl = 0.0;
    for i in 0..p.n() {
        let (cols, vals) = p.row(i);
        for (&j, &pij) in cols.iter().zip(vals) {
            if pij > 0.0 {
                let (d0, d1) = (y0[i] - y0[j], y1[i] - y1[j]);
                let q = 1.0 / ((1.0 + d0 * d0 + d1 * d1) * z);
                kl += pij * (pij / q).ln();
            }
        }
    }
    kl
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points with i.i.d. uniform coordinates, row-major.
    fn random_data(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn each_row_reaches_the_target_perplexity() {
        let (n, d) = (120, 5);
        let data = random_data(n, d, 3);
        for perplexity in [2.0, 5.0, 15.0, 30.0] {
            let k = (3.0 * perplexity) as usize;
            let (_, dist2) = nearest_neighbours(&data, n, d, k);
            let mut p = vec![0.0; k];
            for i in 0..n {
                let beta = conditional_row(&dist2[i * k..(i + 1) * k], perplexity, &mut p);
                assert!(beta.is_finite() && beta > 0.0, "row {i}: beta {beta}");
                let total: f64 = p.iter().sum();
                assert!((total - 1.0).abs() < 1e-12, "row {i} sums to {total}");
                let bits: f64 = p.iter().filter(|&&v| v > 0.0).map(|&v| -v * v.log2()).sum();
                assert!(
                    (bits - perplexity.log2()).abs() < 1e-4,
                    "row {i}, perplexity {perplexity}: entropy {bits} bits, want {}",
                    perplexity.log2()
                );
            }
        }
    }

    #[test]
    fn neighbours_are_exact_and_ties_go_to_the_smaller_index() {
        // Points on a line at 0, 1, 1, 2, 3: from point 0 the two points at 1 tie.
        let data = [0.0, 1.0, 1.0, 2.0, 3.0];
        let (nbr, dist2) = nearest_neighbours(&data, 5, 1, 3);
        assert_eq!(&nbr[..3], &[1, 2, 3]);
        assert_eq!(&dist2[..3], &[1.0, 1.0, 4.0]);
        // From point 3 (at 2): 1 and 2 (at 1) and 4 (at 3) tie at distance 1.
        assert_eq!(&nbr[9..12], &[1, 2, 4]);
    }

    #[test]
    fn joint_probabilities_are_symmetric_and_sum_to_one() {
        let (n, d) = (80, 4);
        let data = random_data(n, d, 5);
        let p = joint_probabilities(&data, n, d, 15, 5.0);
        let mut total = 0.0;
        for i in 0..n {
            let (cols, vals) = p.row(i);
            assert!(cols.windows(2).all(|w| w[0] < w[1]), "row {i} not sorted");
            for (&j, &v) in cols.iter().zip(vals) {
                assert_ne!(i, j);
                let (cj, vj) = p.row(j);
                let at = cj.binary_search(&i).expect("P is not symmetric");
                assert_eq!(v, vj[at], "p[{i},{j}] != p[{j},{i}]");
                total += v;
            }
        }
        assert!((total - 1.0).abs() < 1e-12, "P sums to {total}");
    }

    /// The analytic gradient is the derivative of the sparse KL divergence (times 1/4).
    #[test]
    fn gradient_matches_finite_differences_of_kl() {
        let (n, d) = (40, 3);
        let data = random_data(n, d, 9);
        let p = joint_probabilities(&data, n, d, 12, 4.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let y0: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let y1: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let (mut g0, mut g1) = (vec![0.0; n], vec![0.0; n]);
        gradient(&p, 1.0, &y0, &y1, &mut g0, &mut g1);
        let h = 1e-6;
        for i in [0, 7, 23, 39] {
            for (c, g) in [(0, &g0), (1, &g1)] {
                let shifted = |delta: f64| {
                    let (mut a, mut b) = (y0.clone(), y1.clone());
                    if c == 0 {
                        a[i] += delta
                    } else {
                        b[i] += delta
                    }
                    kl_divergence(&p, &a, &b)
                };
                let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
                let analytic = 4.0 * g[i];
                assert!(
                    (numeric - analytic).abs() < 1e-6 * (1.0 + analytic.abs()),
                    "point {i} coordinate {c}: numeric {numeric}, analytic {analytic}"
                );
            }
        }
    }
}
