//! Real Schur decomposition `A = Z T Z^T` (Golub & Van Loan, *Matrix
//! Computations*, 4th ed., §7.4–7.5).
//!
//! Three stages: Householder reduction to upper Hessenberg form (GVL Alg. 7.4.2),
//! the Francis implicit double-shift QR iteration with deflation (GVL Alg. 7.5.1–7.5.2,
//! organised like LAPACK's `dlahqr`), and standardisation of every 2×2 diagonal block
//! by one plane rotation. All transformations are orthogonal and are accumulated in
//! `Z`, so `T = Z^T A Z` up to rounding.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

use super::LinalgError;

/// `A = Z T Z^T` with `Z` orthogonal and `T` upper quasi-triangular.
///
/// `T` has 1×1 and 2×2 diagonal blocks; everything below the first subdiagonal is
/// exactly zero, and a subdiagonal entry is non-zero only inside a 2×2 block. Each
/// 2×2 block is in standard form `[a b; c a]` with `b c < 0` and holds a
/// complex-conjugate pair `a ± i sqrt(-b c)`.
#[derive(Debug, Clone)]
pub struct RealSchur {
    /// The quasi-triangular Schur factor.
    pub t: Mat<f64>,
    /// The orthogonal Schur vectors.
    pub z: Mat<f64>,
}

impl RealSchur {
    /// Eigenvalues as `(re, im)` pairs read off the diagonal blocks, in block order;
    /// a 2×2 block contributes `(a, +w)` then `(a, -w)`.
    pub fn eigenvalues(&self) -> Vec<(f64, f64)> {
        let t = &self.t;
        let mut eig = Vec::with_capacity(t.nrows());
        let mut k = 0;
        for size in self.block_sizes() {
            if size == 1 {
                eig.push((t[(k, k)], 0.0));
            } else {
                let re = 0.5 * (t[(k, k)] + t[(k + 1, k + 1)]);
                let im = t[(k, k + 1)].abs().sqrt() * t[(k + 1, k)].abs().sqrt();
                eig.push((re, im));
                eig.push((re, -im));
            }
            k += size;
        }
        eig
    }

    /// Sizes of the diagonal blocks of `T` in order (each 1 or 2).
    pub fn block_sizes(&self) -> Vec<usize> {
        block_sizes(self.t.as_ref())
    }
}

/// Sizes of the diagonal blocks of a quasi-triangular matrix, read from its
/// non-zero subdiagonal entries.
pub(super) fn block_sizes(t: MatRef<'_, f64>) -> Vec<usize> {
    let n = t.nrows();
    let mut sizes = Vec::with_capacity(n);
    let mut k = 0;
    while k < n {
        let size = if k + 1 < n && t[(k + 1, k)] != 0.0 {
            2
        } else {
            1
        };
        sizes.push(size);
        k += size;
    }
    sizes
}

/// Real Schur decomposition of a square matrix (Golub & Van Loan §7.5).
///
/// Returns `NotSquare` or `NonFinite` for bad input and `NoConvergence` if the QR
/// iteration spends more than `30 · max(n, 10)` sweeps on one eigenvalue.
pub fn real_schur(a: MatRef<'_, f64>) -> Result<RealSchur, LinalgError> {
    let (rows, cols) = (a.nrows(), a.ncols());
    if rows != cols {
        return Err(LinalgError::NotSquare { rows, cols });
    }
    if !a.is_all_finite() {
        return Err(LinalgError::NonFinite);
    }
    let n = rows;
    // A power-of-two scaling is exact; it keeps squares and products in the
    // iteration away from overflow and underflow for extreme inputs.
    let scale = power_of_two_scale(a.norm_max());
    let mut t = Mat::from_fn(n, n, |i, j| a[(i, j)] * scale);
    let mut z = Mat::<f64>::identity(n, n);

    reduce_to_hessenberg(&mut t, &mut z);
    francis_qr(&mut t, &mut z)?;

    if scale != 1.0 {
        let unscale = 1.0 / scale;
        for j in 0..n {
            for x in t.col_as_slice_mut(j) {
                *x *= unscale;
            }
        }
    }
    Ok(RealSchur { t, z })
}

/// A power of two `s` such that `s · max_abs` is of order one, or 1 when
/// `max_abs` is already far from overflow and underflow.
fn power_of_two_scale(max_abs: f64) -> f64 {
    const LIMIT: f64 = 1e150;
    if max_abs == 0.0 || (1.0 / LIMIT..=LIMIT).contains(&max_abs) {
        return 1.0;
    }
    // Clamped so that the scale itself is a normal, finite number.
    2f64.powi(-(max_abs.log2().round() as i32).clamp(-1000, 1000))
}

/// Householder reduction `H = P^T A P` to upper Hessenberg form (GVL Alg. 7.4.2);
/// `P` is multiplied into `z` from the right. Each reflector is applied as a
/// matrix–vector product and a rank-one update (sequential faer kernels).
fn reduce_to_hessenberg(h: &mut Mat<f64>, z: &mut Mat<f64>) {
    let n = h.nrows();
    if n < 3 {
        return;
    }
    let mut v = Mat::<f64>::zeros(n, 1);
    let mut w = Mat::<f64>::zeros(n, 1);
    for k in 0..n - 2 {
        let len = n - k - 1;
        let x = &mut v.col_as_slice_mut(0)[..len];
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = h[(k + 1 + i, k)];
        }
        let (beta, tau) = householder(x);
        if tau == 0.0 {
            continue;
        }
        h[(k + 1, k)] = beta;
        for i in k + 2..n {
            h[(i, k)] = 0.0;
        }
        let v = v.as_ref().subrows(0, len);
        // H[k+1.., k+1..] ← (I - τ v v^T) H[k+1.., k+1..].
        let mut wt = w.as_mut().subrows_mut(0, len);
        let block = h.as_ref().submatrix(k + 1, k + 1, len, len);
        matmul(
            wt.as_mut(),
            Accum::Replace,
            block.transpose(),
            v,
            1.0,
            Par::Seq,
        );
        let block = h.as_mut().submatrix_mut(k + 1, k + 1, len, len);
        matmul(
            block,
            Accum::Add,
            v,
            wt.as_ref().transpose(),
            -tau,
            Par::Seq,
        );
        // M[:, k+1..] ← M[:, k+1..] (I - τ v v^T) for M = H and M = Z.
        for m in [&mut *h, &mut *z] {
            let mut wm = w.as_mut();
            matmul(
                wm.as_mut(),
                Accum::Replace,
                m.as_ref().subcols(k + 1, len),
                v,
                1.0,
                Par::Seq,
            );
            let cols = m.as_mut().subcols_mut(k + 1, len);
            matmul(cols, Accum::Add, wm.as_ref(), v.transpose(), -tau, Par::Seq);
        }
    }
}

/// Francis implicit double-shift QR iteration on an upper Hessenberg `h`
/// (GVL Alg. 7.5.2 with the deflation and shift strategy of LAPACK `dlahqr`).
///
/// Works on the active window `l..=i`, deflating at negligible subdiagonal
/// entries; converged 2×2 blocks are standardised as they split off.
fn francis_qr(h: &mut Mat<f64>, z: &mut Mat<f64>) -> Result<(), LinalgError> {
    let n = h.nrows();
    if n == 0 {
        return Ok(());
    }
    let ulp = f64::EPSILON;
    let small = f64::MIN_POSITIVE * (n as f64 / ulp);
    let max_sweeps = 30 * n.max(10);

    let mut i = n - 1;
    loop {
        let mut l = 0;
        let mut converged = false;
        for sweep in 0..=max_sweeps {
            l = (l + 1..=i)
                .rev()
                .find(|&k| negligible_subdiagonal(h, k, ulp, small))
                .unwrap_or(l);
            if l > 0 {
                h[(l, l - 1)] = 0.0;
            }
            if l + 1 >= i {
                converged = true;
                break;
            }
            let shifts = Shifts::choose(h, l, i, sweep);
            let (m, v) = bulge_start(h, l, i, &shifts, ulp);
            double_shift_sweep(h, z, l, m, i, v);
        }
        if !converged {
            return Err(LinalgError::NoConvergence {
                iterations: max_sweeps,
            });
        }
        if l + 1 == i {
            standardise_block(h, z, l);
        }
        if l == 0 {
            return Ok(());
        }
        i = l - 1;
    }
}

/// Whether `h[k, k-1]` may be set to zero: small against its neighbours on the
/// diagonal, refined by the criterion of Ahues & Tisseur (LAPACK Working Note 122),
/// which asks that the product `h[k,k-1] h[k-1,k]` be negligible against
/// `h[k,k] (h[k-1,k-1] - h[k,k])`, i.e. that zeroing it perturbs the eigenvalues
/// by O(ulp).
fn negligible_subdiagonal(h: &Mat<f64>, k: usize, ulp: f64, small: f64) -> bool {
    let n = h.nrows();
    let sub = h[(k, k - 1)].abs();
    if sub <= small {
        return true;
    }
    let mut diag = h[(k - 1, k - 1)].abs() + h[(k, k)].abs();
    if diag == 0.0 {
        if k >= 2 {
            diag += h[(k - 1, k - 2)].abs();
        }
        if k + 1 < n {
            diag += h[(k + 1, k)].abs();
        }
    }
    if sub > ulp * diag {
        return false;
    }
    let sup = h[(k - 1, k)].abs();
    let (ab, ba) = (sub.max(sup), sub.min(sup));
    let hkk = h[(k, k)].abs();
    let gap = (h[(k - 1, k - 1)] - h[(k, k)]).abs();
    let (aa, bb) = (hkk.max(gap), hkk.min(gap));
    let s = aa + ab;
    ba * (ab / s) <= small.max(ulp * (bb * (aa / s)))
}

/// The two shifts of one double-shift sweep, `re1 + i im1` and `re2 + i im2`
/// (either a complex-conjugate pair or two equal real numbers).
struct Shifts {
    re1: f64,
    im1: f64,
    re2: f64,
    im2: f64,
}

impl Shifts {
    /// Francis shifts: the eigenvalues of the trailing 2×2 block of the window.
    /// After every 10 sweeps without deflation an exceptional shift built from the
    /// size of the subdiagonal breaks possible cycles (alternately at the top and
    /// at the bottom of the window).
    fn choose(h: &Mat<f64>, l: usize, i: usize, sweep: usize) -> Self {
        const EXCEPTIONAL_DIAG: f64 = 0.75;
        const EXCEPTIONAL_OFF: f64 = -0.4375;
        let (h11, h12, h21, h22) = match (sweep, sweep % 20) {
            (1.., 10) => {
                let s = h[(l + 1, l)].abs() + h[(l + 2, l + 1)].abs();
                let d = EXCEPTIONAL_DIAG * s + h[(l, l)];
                (d, EXCEPTIONAL_OFF * s, s, d)
            }
            (1.., 0) => {
                let s = h[(i, i - 1)].abs() + h[(i - 1, i - 2)].abs();
                let d = EXCEPTIONAL_DIAG * s + h[(i, i)];
                (d, EXCEPTIONAL_OFF * s, s, d)
            }
            _ => (h[(i - 1, i - 1)], h[(i - 1, i)], h[(i, i - 1)], h[(i, i)]),
        };
        Self::eigenvalues_2x2(h11, h12, h21, h22)
    }

    /// Eigenvalues of `[h11 h12; h21 h22]`: mean of the diagonal plus or minus the
    /// square root of the discriminant. Two real eigenvalues are replaced by the one
    /// closer to `h22`, used twice (the Wilkinson choice).
    fn eigenvalues_2x2(h11: f64, h12: f64, h21: f64, h22: f64) -> Self {
        let s = h11.abs() + h12.abs() + h21.abs() + h22.abs();
        if s == 0.0 {
            return Shifts {
                re1: 0.0,
                im1: 0.0,
                re2: 0.0,
                im2: 0.0,
            };
        }
        let (h11, h12, h21, h22) = (h11 / s, h12 / s, h21 / s, h22 / s);
        let mean = 0.5 * (h11 + h22);
        let det = (h11 - mean) * (h22 - mean) - h12 * h21;
        let root = det.abs().sqrt();
        if det >= 0.0 {
            Shifts {
                re1: mean * s,
                im1: root * s,
                re2: mean * s,
                im2: -root * s,
            }
        } else {
            let (r1, r2) = (mean + root, mean - root);
            let r = if (r1 - h22).abs() <= (r2 - h22).abs() {
                r1
            } else {
                r2
            } * s;
            Shifts {
                re1: r,
                im1: 0.0,
                re2: r,
                im2: 0.0,
            }
        }
    }
}

/// Where the sweep starts: the largest `m` in `l..=i-2` such that introducing the
/// bulge at row `m` perturbs `h[m, m-1]` negligibly (GVL §7.5, "two consecutive
/// small subdiagonal entries"). Returns `m` and the first column of
/// `(H_m - σ1 I)(H_m - σ2 I)` restricted to rows `m..m+3` (scaled; only its
/// direction matters).
fn bulge_start(h: &Mat<f64>, l: usize, i: usize, s: &Shifts, ulp: f64) -> (usize, [f64; 3]) {
    let mut m = i - 2;
    loop {
        let hmm = h[(m, m)];
        let scale = (hmm - s.re2).abs() + s.im2.abs() + h[(m + 1, m)].abs();
        let h21 = h[(m + 1, m)] / scale;
        // Real part of (h_mm - σ1)(h_mm - σ2) + h_{m,m+1} h_{m+1,m}, and the next two
        // entries of the first column of the shifted product.
        let mut v = [
            h21 * h[(m, m + 1)] + (hmm - s.re1) * ((hmm - s.re2) / scale) - s.im1 * (s.im2 / scale),
            h21 * (hmm + h[(m + 1, m + 1)] - s.re1 - s.re2),
            h21 * h[(m + 2, m + 1)],
        ];
        let norm = v[0].abs() + v[1].abs() + v[2].abs();
        for x in &mut v {
            *x /= norm;
        }
        if m == l {
            return (m, v);
        }
        let created = h[(m, m - 1)].abs() * (v[1].abs() + v[2].abs());
        let reference =
            v[0].abs() * (h[(m - 1, m - 1)].abs() + hmm.abs() + h[(m + 1, m + 1)].abs());
        if created <= ulp * reference {
            return (m, v);
        }
        m -= 1;
    }
}

/// Reflectors per chunk whose left update of the far-right columns is deferred.
const DEFERRED_CHUNK: usize = 32;

/// One implicit double-shift QR sweep on the window `l..=i`, starting at row `m`
/// (GVL Alg. 7.5.1): a 3×3 reflector introduces the bulge, further reflectors
/// chase it down to the bottom of the window. Applied to all of `h` (so the full
/// `T` is formed) and accumulated in `z`.
///
/// The reflectors of a chunk of `DEFERRED_CHUNK` consecutive positions touch the
/// columns right of the chunk only through their left update, so that update is
/// deferred and applied column by column once per chunk: the same operations in
/// the same order per entry, but each column is loaded once instead of once per
/// reflector.
fn double_shift_sweep(
    h: &mut Mat<f64>,
    z: &mut Mat<f64>,
    l: usize,
    m: usize,
    i: usize,
    first: [f64; 3],
) {
    let n = h.nrows();
    let mut v = first;
    let mut pending: Vec<SmallReflector> = Vec::with_capacity(DEFERRED_CHUNK);
    let mut chunk_start = m;
    let mut split = (chunk_start + DEFERRED_CHUNK + 3).min(n);
    for k in m..i {
        let nr = 3.min(i - k + 1);
        if k > m {
            for (r, vr) in v[..nr].iter_mut().enumerate() {
                *vr = h[(k + r, k - 1)];
            }
        }
        let (beta, tau) = householder(&mut v[..nr]);
        if k > m {
            h[(k, k - 1)] = beta;
            h[(k + 1, k - 1)] = 0.0;
            if nr == 3 {
                h[(k + 2, k - 1)] = 0.0;
            }
        } else if m > l {
            // The reflector acts on column m-1 only through h[m, m-1]; its other
            // contributions are negligible by the choice of m.
            h[(k, k - 1)] *= 1.0 - tau;
        }
        if tau != 0.0 {
            let refl = SmallReflector { k, v, nr, tau };
            refl.apply_left(h, k..split);
            refl.apply_right(h, (k + 4).min(i + 1));
            refl.apply_right(z, n);
            pending.push(refl);
        }
        if k + 1 == chunk_start + DEFERRED_CHUNK || k + 1 == i {
            apply_deferred_left(h, &pending, split);
            pending.clear();
            chunk_start = k + 1;
            split = (chunk_start + DEFERRED_CHUNK + 3).min(n);
        }
    }
}

/// Applies the left updates of `pending` (in order) to the columns `split..` of
/// `h`. Columns are taken a few at a time so that consecutive reflectors, which
/// overlap in two rows, work on independent columns in between.
fn apply_deferred_left(h: &mut Mat<f64>, pending: &[SmallReflector], split: usize) {
    const COLUMNS: usize = 8;
    let (Some(first), Some(last)) = (pending.first(), pending.last()) else {
        return;
    };
    let (r0, r1) = (first.k, last.k + last.nr);
    let n = h.ncols();
    let mut j = split;
    while j < n {
        let width = COLUMNS.min(n - j);
        let view = h.as_mut().submatrix_mut(r0, j, r1 - r0, width);
        let mut cols = view.col_iter_mut().map(|c| {
            c.try_as_col_major_mut()
                .expect("columns of an owned Mat are contiguous")
                .as_slice_mut()
        });
        let mut block: [&mut [f64]; COLUMNS] =
            std::array::from_fn(|_| cols.next().unwrap_or_default());
        for refl in pending {
            let rows = refl.k - r0..refl.k - r0 + refl.nr;
            for col in &mut block[..width] {
                refl.apply(&mut col[rows.clone()]);
            }
        }
        j += width;
    }
}

/// A reflector `I - τ v v^T` with `v[0] = 1` of length 2 or 3 acting on
/// rows/columns `k..k + nr`.
struct SmallReflector {
    k: usize,
    v: [f64; 3],
    nr: usize,
    tau: f64,
}

impl SmallReflector {
    /// `x ← (I - τ v v^T) x` for the `nr` entries of `x`.
    #[inline]
    fn apply(&self, x: &mut [f64]) {
        let [_, v1, v2] = self.v;
        if self.nr == 3 {
            let s = self.tau * (x[0] + v1 * x[1] + v2 * x[2]);
            x[0] -= s;
            x[1] -= s * v1;
            x[2] -= s * v2;
        } else {
            let s = self.tau * (x[0] + v1 * x[1]);
            x[0] -= s;
            x[1] -= s * v1;
        }
    }

    /// Left application to the columns `cols` of `m`.
    fn apply_left(&self, m: &mut Mat<f64>, cols: std::ops::Range<usize>) {
        for j in cols {
            self.apply(&mut m.col_as_slice_mut(j)[self.k..self.k + self.nr]);
        }
    }

    /// Right application to the rows `..rows` of `m`, in one pass over the
    /// `nr` columns.
    fn apply_right(&self, m: &mut Mat<f64>, rows: usize) {
        let [_, v1, v2] = self.v;
        let tau = self.tau;
        let cols = m.as_mut().subrows_mut(0, rows).subcols_mut(self.k, self.nr);
        let (c0, rest) = cols.split_at_col_mut(1);
        let (c1, c2) = rest.split_at_col_mut(1);
        let (c0, c1) = (contiguous(c0), contiguous(c1));
        if self.nr == 3 {
            let c2 = contiguous(c2);
            for ((a, b), c) in c0.iter_mut().zip(c1.iter_mut()).zip(c2.iter_mut()) {
                let s = tau * (*a + v1 * *b + v2 * *c);
                *a -= s;
                *b -= s * v1;
                *c -= s * v2;
            }
        } else {
            for (a, b) in c0.iter_mut().zip(c1.iter_mut()) {
                let s = tau * (*a + v1 * *b);
                *a -= s;
                *b -= s * v1;
            }
        }
    }
}

/// The first column of a view into an owned `Mat` as a slice.
fn contiguous(c: faer::MatMut<'_, f64>) -> &mut [f64] {
    c.col_mut(0)
        .try_as_col_major_mut()
        .expect("columns of an owned Mat are contiguous")
        .as_slice_mut()
}

/// Householder reflector `P = I - τ v v^T` with `v[0] = 1` and `P x = β e_1`
/// (GVL Alg. 5.1.1). Overwrites `x` with `v` and returns `(β, τ)`; `τ = 0`
/// (`P = I`) when `x[1..]` is already zero.
fn householder(x: &mut [f64]) -> (f64, f64) {
    let alpha = x[0];
    let tail = scaled_norm(&x[1..]);
    x[0] = 1.0;
    if tail == 0.0 {
        return (alpha, 0.0);
    }
    let beta = -alpha.signum() * alpha.hypot(tail);
    let tau = (beta - alpha) / beta;
    let s = 1.0 / (alpha - beta);
    for xi in &mut x[1..] {
        *xi *= s;
    }
    (beta, tau)
}

/// Euclidean norm, computed on the vector scaled by its largest entry.
fn scaled_norm(x: &[f64]) -> f64 {
    let max = x.iter().fold(0.0_f64, |acc, xi| acc.max(xi.abs()));
    if max == 0.0 {
        return 0.0;
    }
    let inv = 1.0 / max;
    max * x
        .iter()
        .map(|xi| (xi * inv) * (xi * inv))
        .sum::<f64>()
        .sqrt()
}

/// Standardises the converged 2×2 block at rows/columns `k, k+1` of `h` and applies
/// the rotation to the rest of `h` and to `z`.
fn standardise_block(h: &mut Mat<f64>, z: &mut Mat<f64>, k: usize) {
    let n = h.nrows();
    let std = standardise_2x2(h[(k, k)], h[(k, k + 1)], h[(k + 1, k)], h[(k + 1, k + 1)]);
    h[(k, k)] = std.block[0][0];
    h[(k, k + 1)] = std.block[0][1];
    h[(k + 1, k)] = std.block[1][0];
    h[(k + 1, k + 1)] = std.block[1][1];
    let (cs, sn) = (std.cs, std.sn);
    // Rows k, k+1 right of the block: Q^T [row_k; row_k+1].
    for j in k + 2..n {
        let (x, y) = (h[(k, j)], h[(k + 1, j)]);
        h[(k, j)] = cs * x + sn * y;
        h[(k + 1, j)] = cs * y - sn * x;
    }
    rotate_columns(h, k, k, cs, sn);
    rotate_columns(z, n, k, cs, sn);
}

/// `[M[..rows, k], M[..rows, k+1]] ← [M[..rows, k], M[..rows, k+1]] Q` with
/// `Q = [cs -sn; sn cs]`.
fn rotate_columns(m: &mut Mat<f64>, rows: usize, k: usize, cs: f64, sn: f64) {
    for r in 0..rows {
        let (x, y) = (m[(r, k)], m[(r, k + 1)]);
        m[(r, k)] = cs * x + sn * y;
        m[(r, k + 1)] = cs * y - sn * x;
    }
}

/// A 2×2 block in standard form and the rotation that produced it:
/// `[a b; c d] = Q block Q^T` with `Q = [cs -sn; sn cs]`.
#[derive(Debug, Clone, Copy)]
struct Standard2x2 {
    block: [[f64; 2]; 2],
    cs: f64,
    sn: f64,
}

/// Schur form of a real 2×2 matrix by one rotation (the task of LAPACK `dlanv2`,
/// derived here from first principles): real eigenvalues give an upper triangular
/// block, complex ones give `[p q; r p]` with `q r < 0`.
///
/// Two facts drive it. A rotation similarity leaves the antisymmetric part
/// `(b - c)/2` unchanged and rotates the symmetric part, so the angle `θ` with
/// `tan 2θ = -(a - d)/(b + c)` equalises the diagonal. For real eigenvalues the
/// first column of `Q` is the eigenvector `(z, c)` of `λ = d + z`, with
/// `z = p + sign(p) sqrt(p² + b c)`, `p = (a - d)/2` (cancellation-free form).
fn standardise_2x2(a: f64, b: f64, c: f64, d: f64) -> Standard2x2 {
    let done = |a, b, c, d, cs, sn| Standard2x2 {
        block: [[a, b], [c, d]],
        cs,
        sn,
    };
    if c == 0.0 {
        return done(a, b, c, d, 1.0, 0.0);
    }
    if b == 0.0 {
        // Lower triangular: swap the two coordinates (rotation by 90°).
        return done(d, -c, 0.0, a, 0.0, 1.0);
    }
    let p = 0.5 * (a - d);
    if p == 0.0 && b.signum() != c.signum() {
        return done(a, b, c, d, 1.0, 0.0);
    }
    // p² + b c, evaluated on quantities divided by `scale` to avoid overflow.
    let bc_max = b.abs().max(c.abs());
    let bc_min = b.abs().min(c.abs()) * b.signum() * c.signum();
    let scale = p.abs().max(bc_max);
    let disc = (p / scale) * p + (bc_max / scale) * bc_min;
    if disc >= 4.0 * f64::EPSILON {
        let zz = p + p.signum() * scale.sqrt() * disc.sqrt();
        let tau = c.hypot(zz);
        return done(
            d + zz,
            b - c,
            0.0,
            d - (bc_max / zz) * bc_min,
            zz / tau,
            c / tau,
        );
    }
    // Complex (or nearly equal real) eigenvalues: rotate to equal diagonal.
    let sigma = b + c;
    let tau = sigma.hypot(a - d);
    let mut cs = (0.5 * (1.0 + sigma.abs() / tau)).sqrt();
    let mut sn = -(p / (tau * cs)) * sigma.signum();
    // M Q, then Q^T (M Q).
    let (aa, bb) = (a * cs + b * sn, -a * sn + b * cs);
    let (cc, dd) = (c * cs + d * sn, -c * sn + d * cs);
    let mut b1 = cs * bb + sn * dd;
    let mut c1 = -sn * aa + cs * cc;
    let mean = 0.5 * ((cs * aa + sn * cc) + (-sn * bb + cs * dd));
    let (mut a1, mut d1) = (mean, mean);
    if c1 != 0.0 {
        if b1 == 0.0 {
            // Lower triangular with a double eigenvalue: swap as above.
            b1 = -c1;
            c1 = 0.0;
            (cs, sn) = (-sn, cs);
        } else if b1.signum() == c1.signum() {
            // Rounding left real eigenvalues mean ± sqrt(b1 c1): triangularise with
            // the eigenvector (sqrt|b1|, sqrt|c1|) of the larger one.
            let (sb, sc) = (b1.abs().sqrt(), c1.abs().sqrt());
            let root = c1.signum() * sb * sc;
            let inv = 1.0 / (b1 + c1).abs().sqrt();
            let (cs1, sn1) = (sb * inv, sc * inv);
            a1 = mean + root;
            d1 = mean - root;
            b1 -= c1;
            c1 = 0.0;
            (cs, sn) = (cs * cs1 - sn * sn1, cs * sn1 + sn * cs1);
        }
    }
    done(a1, b1, c1, d1, cs, sn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Reconstructs Q N Q^T and compares it with the input.
    fn check_standardisation(a: f64, b: f64, c: f64, d: f64) {
        let s = standardise_2x2(a, b, c, d);
        let (cs, sn) = (s.cs, s.sn);
        assert!(
            (cs * cs + sn * sn - 1.0).abs() < 1e-14,
            "not a rotation: {cs} {sn}"
        );
        let q = [[cs, -sn], [sn, cs]];
        let nb = s.block;
        let scale = a.abs() + b.abs() + c.abs() + d.abs();
        let orig = [[a, b], [c, d]];
        for (r, orig_row) in orig.iter().enumerate() {
            for (col, &orig_entry) in orig_row.iter().enumerate() {
                // Q N Q^T entry (r, col) = sum_ij Q[r][i] N[i][j] Q[col][j].
                let mut x = 0.0;
                for i in 0..2 {
                    for j in 0..2 {
                        x += q[r][i] * nb[i][j] * q[col][j];
                    }
                }
                assert!(
                    (x - orig_entry).abs() <= 1e-14 * scale,
                    "reconstruction ({r},{col}): {x} vs {orig_entry} for {:?}",
                    [a, b, c, d]
                );
            }
        }
        let [[p, q1], [r, d1]] = nb;
        if r != 0.0 {
            assert_eq!(p, d1, "diagonal not equal in a complex block");
            assert!(q1 * r < 0.0, "off-diagonals of equal sign");
        }
    }

    #[test]
    fn standardise_2x2_reconstructs_and_is_standard() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2000 {
            let e: [f64; 4] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
            check_standardisation(e[0], e[1], e[2], e[3]);
        }
        // Edge cases: triangular, lower triangular, already standard, equal
        // diagonal with real eigenvalues, a double eigenvalue, zero.
        for e in [
            [1.0, 2.0, 0.0, 3.0],
            [1.0, 0.0, 2.0, 3.0],
            [1.0, 2.0, -3.0, 1.0],
            [1.0, 2.0, 3.0, 1.0],
            [2.0, 1.0, -1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [1.0, 1e-20, -1e-20, 1.0],
        ] {
            check_standardisation(e[0], e[1], e[2], e[3]);
        }
    }

    #[test]
    fn shifts_of_a_rotation_block_are_its_eigenvalues() {
        let s = Shifts::eigenvalues_2x2(1.0, -2.0, 2.0, 1.0);
        assert_eq!((s.re1, s.re2), (1.0, 1.0));
        assert!((s.im1 - 2.0).abs() < 1e-15 && (s.im2 + 2.0).abs() < 1e-15);
    }

    #[test]
    fn householder_maps_to_multiple_of_e1() {
        let x = [3.0, 1.0, -2.0];
        let mut v = x;
        let (beta, tau) = householder(&mut v);
        // P x = x - τ v (v^T x)
        let vx: f64 = v.iter().zip(&x).map(|(a, b)| a * b).sum();
        let px: Vec<f64> = x
            .iter()
            .zip(&v)
            .map(|(xi, vi)| xi - tau * vi * vx)
            .collect();
        assert!((px[0] - beta).abs() < 1e-14);
        assert!(px[1].abs() < 1e-14 && px[2].abs() < 1e-14);
        assert!((beta.abs() - 14f64.sqrt()).abs() < 1e-14);
    }
}
