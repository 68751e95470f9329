//! Step-by-step Euler simulation of one layer's DI dynamics (Algorithm 1), fused into
//! one pass over the wide layer per step.
//!
//! On MNIST the controlled layer is 10 × 1000 and the paper's 10000 steps of each
//! example cost two products with the feedback and forward weights and 1000 `tanh`s
//! per step. Done as separate library calls that took 16 µs per step; here one pass
//! over eight rows at a time updates `δ_{l-1}` from `B u`, applies the readout and
//! accumulates `W φ(δ)` in registers.
//!
//! **Bitwise reproducibility.** Every sum is written with an explicit order: `B u`
//! row by row over the controller's units in index order, `W φ` in eight fixed lanes
//! (lane `i mod 8`) combined by a fixed tree. The compiler may not reorder floating
//! point operations nor fuse a multiply and an add, so the kernel compiled for AVX-512,
//! AVX2 or plain SSE2 gives the same bits; the wider paths only run faster (tested).

use faer::MatRef;

use crate::activation::Activation;

const LANES: usize = 8;

/// The readout `φ` applied to the state, element by element.
#[derive(Clone, Copy)]
pub(crate) enum Readout<'a> {
    /// `φ(δ) = δ` (linear dynamics).
    Identity,
    /// `φ(δ) = g(δ)` (the network's activation: tanh dynamics).
    Act(Activation),
    /// `φ(δ) = g ∘ δ` with fixed slopes `g` (linearised dynamics).
    Scaled(&'a [f64]),
}

/// What the kernel integrates, in plain terms: `δ̇ = −δ + B u`,
/// `u̇ = −α u + W φ(δ) − target`, from rest.
#[derive(Clone, Copy)]
pub(crate) struct Plant<'a> {
    pub w: MatRef<'a, f64>,
    pub b: MatRef<'a, f64>,
    pub alpha: f64,
    pub readout: Readout<'a>,
}

/// The Euler loop: `steps` steps of `dt`, the control updated first or second, and an
/// optional early stop once the relative change per unit time falls below `tol`.
#[derive(Clone, Copy)]
pub(crate) struct Steps {
    pub dt: f64,
    pub steps: usize,
    pub control_first: bool,
    pub tol: Option<f64>,
}

/// The layer's matrices laid out for the kernel: the columns of `B` and the rows of
/// `W`, each contiguous and padded with zeros to a multiple of eight rows (a padded
/// row of the state stays at zero and adds `0·0` to every sum).
struct Layout {
    n1: usize,
    n2: usize,
    /// Padded width of the wide side.
    n1p: usize,
    /// `B` eight rows at a time: `b_blk[(c·n2 + j)·8 + l] = B[8c + l, j]`.
    b_blk: Vec<f64>,
    /// `w_rows[k·n1p + i] = W[k, i]`.
    w_rows: Vec<f64>,
    /// The linearised readout's slopes, padded.
    gain: Vec<f64>,
    readout: Readout<'static>,
}

impl Layout {
    fn new(sys: &Plant<'_>) -> Self {
        let (n1, n2) = (sys.w.ncols(), sys.w.nrows());
        let n1p = n1.div_ceil(LANES) * LANES;
        let mut b_blk = vec![0.0; n2 * n1p];
        let mut w_rows = vec![0.0; n2 * n1p];
        for j in 0..n2 {
            for i in 0..n1 {
                b_blk[((i / LANES) * n2 + j) * LANES + i % LANES] = sys.b[(i, j)];
                w_rows[j * n1p + i] = sys.w[(j, i)];
            }
        }
        let mut gain = vec![0.0; n1p];
        // The slopes are copied (padded) into `gain`: the layout keeps no borrow.
        let readout = match sys.readout {
            Readout::Identity => Readout::Identity,
            Readout::Act(a) => Readout::Act(a),
            Readout::Scaled(g) => {
                gain[..n1].copy_from_slice(g);
                Readout::Scaled(&[])
            }
        };
        Layout {
            n1,
            n2,
            n1p,
            b_blk,
            w_rows,
            gain,
            readout,
        }
    }

    /// `δ ← δ + dt (−δ + B u)`, then `wphi = W φ(δ)` (`delta` is padded). Returns
    /// `‖Δδ‖²` when `measure` is set (else 0). With `dt = 0` only `W φ` is computed.
    #[inline(always)]
    fn state_pass<V: Lanes>(
        &self,
        u: &[f64],
        dt: f64,
        measure: bool,
        delta: &mut [f64],
        phi: &mut [f64],
        wphi: &mut [f64],
    ) -> f64 {
        let n1p = self.n1p;
        // δ ← δ + dt (−δ + B u), eight rows at a time; each row sums over the
        // controller's units in order.
        let n2 = self.n2;
        let (bb, _) = self.b_blk.as_chunks::<LANES>();
        let (ds, _) = delta.as_chunks_mut::<LANES>();
        let mut change = [0.0; LANES];
        for (d, cols) in ds.iter_mut().zip(bb.chunks_exact(n2)) {
            let bu = V::combine(cols, u);
            for l in 0..LANES {
                let inc = dt * (-d[l] + bu[l]);
                d[l] += inc;
                if measure {
                    change[l] += inc * inc;
                }
            }
        }
        match self.readout {
            Readout::Identity | Readout::Act(Activation::Linear) => {
                phi.copy_from_slice(delta);
            }
            Readout::Act(Activation::Tanh) => {
                let (ps, _) = phi.as_chunks_mut::<LANES>();
                let (ds, _) = delta.as_chunks::<LANES>();
                for (p, d) in ps.iter_mut().zip(ds) {
                    *p = crate::kernels::tanh::tanh_lanes(*d);
                }
            }
            Readout::Scaled(_) => {
                for ((p, &d), &g) in phi.iter_mut().zip(delta.iter()).zip(&self.gain) {
                    *p = g * d;
                }
            }
        }
        // W φ: each row's dot product in eight lanes (lane i mod 8), four rows at once.
        let (ps, _) = phi.as_chunks::<LANES>();
        let (wr, _) = self.w_rows.as_chunks::<LANES>();
        let chunks = n1p / LANES;
        let row = |k: usize| &wr[k * chunks..(k + 1) * chunks];
        let mut k = 0;
        while k + 4 <= n2 {
            let sums = V::dot4([row(k), row(k + 1), row(k + 2), row(k + 3)], ps);
            for (q, acc) in sums.iter().enumerate() {
                wphi[k + q] = lane_sum(acc);
            }
            k += 4;
        }
        for (k, w) in wphi.iter_mut().enumerate().skip(k) {
            *w = lane_sum(&V::dot(row(k), ps));
        }
        lane_sum(&change)
    }
}

/// Eight-lane sums of products, `acc[l] = Σ_c r[c][l]·p[c][l]` in `c` order: plain
/// arrays, or the same operations as explicit vector instructions (the compiler's own
/// vectorisation of the array form interleaves lanes badly). Every lane rounds each
/// product and each sum exactly as the scalar form does.
trait Lanes {
    /// `Σ_j cols[j]·u[j]`, lane by lane, in `j` order.
    fn combine(cols: &[[f64; LANES]], u: &[f64]) -> [f64; LANES];
    /// `Σ_c r[c]·p[c]`, lane by lane, in `c` order.
    fn dot(r: &[[f64; LANES]], p: &[[f64; LANES]]) -> [f64; LANES];
    /// Four rows' [`Lanes::dot`] at once (independent chains, the same results).
    #[inline(always)]
    fn dot4(r: [&[[f64; LANES]]; 4], p: &[[f64; LANES]]) -> [[f64; LANES]; 4] {
        r.map(|r| Self::dot(r, p))
    }
}

struct Scalar;

impl Lanes for Scalar {
    #[inline(always)]
    fn combine(cols: &[[f64; LANES]], u: &[f64]) -> [f64; LANES] {
        let mut acc = [0.0; LANES];
        for (c, &uj) in cols.iter().zip(u) {
            for l in 0..LANES {
                acc[l] += c[l] * uj;
            }
        }
        acc
    }

    #[inline(always)]
    fn dot(r: &[[f64; LANES]], p: &[[f64; LANES]]) -> [f64; LANES] {
        let mut acc = [0.0; LANES];
        for (r, p) in r.iter().zip(p) {
            for l in 0..LANES {
                acc[l] += r[l] * p[l];
            }
        }
        acc
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx512;

// SAFETY (every `unsafe` block of this impl): `Avx512` is only instantiated inside
// `simulate_avx512`, which runs after the CPU reported AVX-512F; every load and store
// is unaligned and stays within the arrays passed in.
#[cfg(target_arch = "x86_64")]
impl Lanes for Avx512 {
    #[inline(always)]
    fn combine(cols: &[[f64; LANES]], u: &[f64]) -> [f64; LANES] {
        use std::arch::x86_64::*;
        let mut out = [0.0; LANES];
        unsafe {
            let mut acc = _mm512_setzero_pd();
            for (c, &uj) in cols.iter().zip(u) {
                let prod = _mm512_mul_pd(_mm512_loadu_pd(c.as_ptr()), _mm512_set1_pd(uj));
                acc = _mm512_add_pd(acc, prod);
            }
            _mm512_storeu_pd(out.as_mut_ptr(), acc);
        }
        out
    }

    #[inline(always)]
    fn dot(r: &[[f64; LANES]], p: &[[f64; LANES]]) -> [f64; LANES] {
        use std::arch::x86_64::*;
        let mut out = [0.0; LANES];
        unsafe {
            let mut acc = _mm512_setzero_pd();
            for (r, p) in r.iter().zip(p) {
                let prod = _mm512_mul_pd(_mm512_loadu_pd(r.as_ptr()), _mm512_loadu_pd(p.as_ptr()));
                acc = _mm512_add_pd(acc, prod);
            }
            _mm512_storeu_pd(out.as_mut_ptr(), acc);
        }
        out
    }

    #[inline(always)]
    fn dot4(r: [&[[f64; LANES]]; 4], p: &[[f64; LANES]]) -> [[f64; LANES]; 4] {
        use std::arch::x86_64::*;
        let mut out = [[0.0; LANES]; 4];
        unsafe {
            let mut acc = [_mm512_setzero_pd(); 4];
            for (c, pc) in p.iter().enumerate() {
                let pv = _mm512_loadu_pd(pc.as_ptr());
                for k in 0..4 {
                    let prod = _mm512_mul_pd(_mm512_loadu_pd(r[k][c].as_ptr()), pv);
                    acc[k] = _mm512_add_pd(acc[k], prod);
                }
            }
            for k in 0..4 {
                _mm512_storeu_pd(out[k].as_mut_ptr(), acc[k]);
            }
        }
        out
    }
}

/// `((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))`.
#[inline(always)]
fn lane_sum(a: &[f64; LANES]) -> f64 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// `u ← u + dt (−α u + W φ − target)`; returns `‖Δu‖²`.
#[inline(always)]
fn control_update(u: &mut [f64], wphi: &[f64], target: &[f64], alpha: f64, dt: f64) -> f64 {
    let mut change = 0.0;
    for i in 0..u.len() {
        let inc = dt * (-alpha * u[i] + wphi[i] - target[i]);
        u[i] += inc;
        change += inc * inc;
    }
    change
}

/// The simulation: final `(δ_{l-1}, u_l)` and the number of steps taken.
#[inline(always)]
fn simulate_body<V: Lanes>(
    sys: &Plant<'_>,
    target: &[f64],
    int: &Steps,
) -> (Vec<f64>, Vec<f64>, usize) {
    let lay = Layout::new(sys);
    let (n1, n2) = (lay.n1, lay.n2);
    let dt = int.dt;
    let mut delta = vec![0.0; lay.n1p];
    let mut u = vec![0.0; n2];
    let mut wphi = vec![0.0; n2];
    let mut phi = vec![0.0; lay.n1p];
    let measure = int.tol.is_some();
    let scale = crate::kernels::vecops::norm(target).max(f64::MIN_POSITIVE);
    if int.control_first {
        // The control update reads W φ(δ) of the current state.
        lay.state_pass::<V>(&u, 0.0, false, &mut delta, &mut phi, &mut wphi);
    }
    let mut steps = 0;
    for _ in 0..int.steps {
        steps += 1;
        let change = if int.control_first {
            let c = control_update(&mut u, &wphi, target, sys.alpha, dt);
            c + lay.state_pass::<V>(&u, dt, measure, &mut delta, &mut phi, &mut wphi)
        } else {
            let c = lay.state_pass::<V>(&u, dt, measure, &mut delta, &mut phi, &mut wphi);
            c + control_update(&mut u, &wphi, target, sys.alpha, dt)
        };
        if let Some(tol) = int.tol {
            // `change` is ‖Δx‖² = dt²‖ẋ‖² (with the freshest values).
            if change.sqrt() / dt <= tol * scale {
                break;
            }
        }
    }
    delta.truncate(n1);
    (delta, u, steps)
}

/// The simulation compiled for the CPU's widest vector unit (same bits on every path).
pub(crate) fn simulate(
    sys: &Plant<'_>,
    target: &[f64],
    int: &Steps,
) -> (Vec<f64>, Vec<f64>, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { simulate_avx512(sys, target, int) };
        }
    }
    simulate_body::<Scalar>(sys, target, int)
}

/// The kernel as compiled for the baseline instruction set (the reference the
/// vectorised paths are tested against).
#[cfg(test)]
fn simulate_baseline(sys: &Plant<'_>, target: &[f64], int: &Steps) -> (Vec<f64>, Vec<f64>, usize) {
    simulate_body::<Scalar>(sys, target, int)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn simulate_avx512(sys: &Plant<'_>, target: &[f64], int: &Steps) -> (Vec<f64>, Vec<f64>, usize) {
    simulate_body::<Avx512>(sys, target, int)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn system(n2: usize, n1: usize, seed: u64) -> (Mat<f64>, Mat<f64>, Vec<f64>, Vec<f64>) {
        let mut s = seed;
        let mut r = move || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let w = Mat::from_fn(n2, n1, |_, _| r() * 0.6);
        let b = Mat::from_fn(n1, n2, |i, j| -w[(j, i)]);
        let target = (0..n2).map(|_| r()).collect();
        let g = (0..n1).map(|_| 0.5 + r()).collect();
        (w, b, target, g)
    }

    /// The path dispatched on this CPU (AVX-512 where available; on other machines the
    /// baseline itself) gives the same bits as the baseline build, for every readout,
    /// both update orders, with and without a tolerance, and for widths that leave a
    /// partial chunk.
    #[test]
    fn vector_paths_match_the_baseline_bitwise() {
        for (n2, n1) in [(10, 1000), (3, 13), (7, 5)] {
            let (w, b, target, g) = system(n2, n1, n1 as u64);
            let readouts = [
                Readout::Identity,
                Readout::Act(Activation::Tanh),
                Readout::Scaled(&g),
            ];
            for (k, readout) in readouts.into_iter().enumerate() {
                let dynamics = ["linear", "tanh", "linearised"][k];
                for order in [false, true] {
                    let sys = Plant {
                        w: w.as_ref(),
                        b: b.as_ref(),
                        alpha: 0.1,
                        readout,
                    };
                    for tol in [None, Some(1e-3)] {
                        let int = Steps {
                            dt: 0.1,
                            steps: if tol.is_some() { 5000 } else { 300 },
                            control_first: order,
                            tol,
                        };
                        let base = simulate_baseline(&sys, &target, &int);
                        let fast = simulate(&sys, &target, &int);
                        assert!(base.0.iter().any(|v| *v != 0.0));
                        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        let case =
                            format!("{n2}x{n1} {dynamics} control first {order} tol {tol:?}");
                        assert_eq!(bits(&fast.0), bits(&base.0), "{case}");
                        assert_eq!(bits(&fast.1), bits(&base.1), "{case}");
                        assert_eq!(fast.2, base.2, "{case}");
                        if tol.is_some() && k == 0 {
                            assert!(base.2 < 5000, "{case}: the tolerance never stopped it");
                        }
                    }
                }
            }
        }
    }
}
