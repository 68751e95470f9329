//! PBP's and NDI's inversions for a mini-batch, with the square matrix each one
//! factorises kept up to date through the weight updates instead of recomputed.
//!
//! PBP applies `W^+ = (W^T W)^{-1} W^T` (tall `W`), NDI `(B W − αI)^{-1} B` (expanding
//! layer) or `B (W B − αI)^{-1}` (contracting layer), Eq. (10). Forming `W^T W` or
//! `B W` for the 784 × 500 output layer costs more than the rest of a batch; but after
//! `W ← cW − η Δ H^T` the new product is a rank-`m` (NDI) or rank-`2m` (Gram)
//! correction of the old one, built from `B Δ` or `W^T Δ`, which the backward pass has
//! just computed anyway. Wide PBP layers keep `W W^T` the same way, corrected from
//! `W H` (one product with the new weights). The products are recomputed exactly every
//! [`REFRESH`] updates, which bounds the rounding drift far below what the
//! factorisations notice (tested). A factorisation that is numerically singular (or,
//! for the Gram matrices, too ill-conditioned for the normal equations) falls back to
//! dinv-core's solvers.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::inverse::{
    check_feedback_shape, gram_factor_is_accurate, ndi_apply, pinv_apply, symmetric_lower_norm1,
    LayerShape,
};
use crate::kernels::split::{
    decay_and_add_rows, for_halves, matmul_halves, mul_halves, try_for_each_task, Halve,
};
use crate::kernels::vecops::mul;
use crate::{CoreError, Credit, Feedback, Method, Network, UpdateRule};

/// Revision of PBP's arithmetic, part of its stages' cache keys. 2: wide layers keep
/// `W W^T` through the updates (1 recomputed it every batch), and the Gram updates run
/// as two tasks.
pub const PBP_REVISION: u32 = 2;

/// Exact recomputation of every kept product after this many updates.
pub const REFRESH: usize = 100;

/// Which product a layer keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// PBP, tall `W`: `G = W^T W`, solved by Cholesky; the batch's `W^T Δ` is kept.
    Gram,
    /// PBP, wide `W`: `G = W W^T`, solved by Cholesky (`W^+ = W^T G^{-1}`).
    GramWide,
    /// NDI, expanding layer: `P = B W`; the batch's `B Δ` is kept.
    NdiExpanding,
    /// NDI, contracting layer: `P = W B`.
    NdiContracting,
}

#[derive(Clone, Debug)]
struct Kept {
    form: Form,
    /// `W^T W`, `B W` or `W B` for the current weights (empty until first used).
    product: Mat<f64>,
    /// `W^T Δ` or `B Δ` of the last backward pass, for the next update.
    rhs: Mat<f64>,
    /// The factorisation, reused from batch to batch.
    factor: Factor,
    /// Whether `factor` holds the factorisation of the current `product` (`Some(false)`:
    /// it was attempted and is numerically singular; `None`: not yet factorised).
    factored: Option<bool>,
}

/// Storage for factorising a kept product in place (no allocation per batch).
#[derive(Clone, Debug)]
struct Factor {
    lu: Mat<f64>,
    perm: Vec<usize>,
    perm_inv: Vec<usize>,
}

/// The kept products of every inverted layer of one network (`layers[i]` for
/// `i ≥ 1`: no error is sent below the input).
#[derive(Clone, Debug, Default)]
pub struct Inverter {
    kept: Vec<Option<Kept>>,
    updates: usize,
}

impl Inverter {
    /// Products for `credit` on `net` (none for BP and FA).
    pub fn new(credit: &Credit, net: &Network) -> Self {
        let kept = net
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let shape = LayerShape::of(layer.w.as_ref());
                let form = match (credit.method, shape) {
                    _ if i == 0 => return None,
                    (Method::Pbp, _) if layer.d_out() >= layer.d_in() => Form::Gram,
                    (Method::Pbp, _) => Form::GramWide,
                    (Method::Ndi, LayerShape::Expanding) => Form::NdiExpanding,
                    (Method::Ndi, LayerShape::Contracting) => Form::NdiContracting,
                    _ => return None,
                };
                Some(Kept {
                    form,
                    product: Mat::new(),
                    rhs: Mat::new(),
                    factor: Factor::default(),
                    factored: None,
                })
            })
            .collect();
        Inverter { kept, updates: 0 }
    }

    /// Factorises every kept product for the next backward pass. It does not depend on
    /// the batch, so [`super::Learner`] runs it beside the forward pass;
    /// [`Inverter::apply`] factorises any product not prepared here itself. The largest
    /// factorisation is one task and the others a second, so a core that finishes the
    /// forward pass takes over the small ones (each factorisation stays sequential:
    /// the same bits on any number of threads).
    pub fn prepare(&mut self, net: &Network, fb: &Feedback, alpha: f64) -> Result<(), CoreError> {
        let size = |i: usize| {
            let layer = &net.layers[i];
            layer.d_in().min(layer.d_out())
        };
        let mut kept: Vec<(usize, &mut Kept)> = self
            .kept
            .iter_mut()
            .enumerate()
            .filter_map(|(i, k)| k.as_mut().map(|k| (i, k)))
            .collect();
        let Some(pos) = (0..kept.len()).max_by_key(|&j| (size(kept[j].0), kept[j].0)) else {
            return Ok(());
        };
        let (i, largest) = kept.remove(pos);
        let factorise = |i: usize, k: &mut Kept| {
            k.factorise(net.layers[i].w.as_ref(), fb, i, alpha)
                .map(|_| ())
        };
        let (first, others) = crate::kernels::split::join(
            || factorise(i, largest),
            || kept.into_iter().try_for_each(|(i, k)| factorise(i, k)),
        );
        first.and(others)
    }

    /// `M_l Δ` for `layers[i]` (before the `g'` factor): `W^+ Δ` (PBP) or Eq. (10)'s
    /// closed form (NDI, leak `alpha`). The solves and products run in two halves of
    /// the batch (bitwise the same as one).
    pub fn apply(
        &mut self,
        net: &Network,
        fb: &Feedback,
        alpha: f64,
        i: usize,
        delta: MatRef<'_, f64>,
    ) -> Result<Mat<f64>, CoreError> {
        let w = net.layers[i].w.as_ref();
        let Some(k) = self.kept.get_mut(i).and_then(Option::as_mut) else {
            return Err(CoreError::Feedback(format!(
                "no inversion prepared for layer {}",
                i + 1
            )));
        };
        let b = k.factorise(w, fb, i, alpha)?;
        let ok = k.factored == Some(true);
        match (k.form, b) {
            (Form::GramWide, _) => {
                if ok {
                    let u = k.factor.cholesky_solve(delta.to_owned());
                    Ok(mul_halves(w.transpose(), u.as_ref()))
                } else {
                    pinv_apply(w, delta)
                }
            }
            (Form::Gram, _) => {
                k.rhs = mul_halves(w.transpose(), delta);
                if ok {
                    Ok(k.factor.cholesky_solve(k.rhs.clone()))
                } else {
                    pinv_apply(w, delta)
                }
            }
            (Form::NdiExpanding, Some(b)) => {
                k.rhs = mul_halves(b, delta);
                if ok {
                    Ok(k.factor.lu_solve(k.rhs.clone()))
                } else {
                    ndi_apply(w, b, alpha, delta)
                }
            }
            (Form::NdiContracting, Some(b)) => {
                if ok {
                    let u = k.factor.lu_solve(delta.to_owned());
                    Ok(mul_halves(b, u.as_ref()))
                } else {
                    ndi_apply(w, b, alpha, delta)
                }
            }
            _ => unreachable!("NDI forms carry their feedback matrix"),
        }
    }

    /// Applies the batch's update `W_l ← decay·W_l − η Δ_l H_{l-1}^T` to `net` and
    /// follows it: corrects every kept product, or recomputes them all every
    /// [`REFRESH`] updates. `inputs` and `deltas` are the batch's `H_{l-1}` and `Δ_l`.
    /// Each layer's update and the correction of its product are one task (the
    /// correction of a wide PBP layer reads the new weights); layers run side by side.
    pub fn update_and_follow(
        &mut self,
        net: &mut Network,
        fb: &Feedback,
        update: &UpdateRule,
        inputs: &[Mat<f64>],
        deltas: &[Mat<f64>],
    ) -> Result<(), CoreError> {
        self.updates += 1;
        let refresh = self.updates.is_multiple_of(REFRESH);
        let tasks: Vec<_> = net
            .layers
            .iter_mut()
            .zip(&mut self.kept)
            .enumerate()
            .collect();
        try_for_each_task(tasks, &|(i, (layer, kept))| {
            let (h, d) = (inputs[i].as_ref(), deltas[i].as_ref());
            update.apply_batch_layer(layer, h, d);
            let Some(k) = kept else { return Ok(()) };
            if k.product.nrows() == 0 {
                return Ok(());
            }
            let b = match k.form {
                Form::Gram | Form::GramWide => None,
                _ => Some(fb.get(i)?),
            };
            k.follow(
                layer.w.as_ref(),
                b,
                update.decay_factor(),
                update.learning_rate,
                h,
                d,
                refresh,
            );
            Ok(())
        })
    }

    /// Each layer's kept product (`None` where the layer keeps none; an empty matrix
    /// until first used), as it has drifted through the updates, and the number of
    /// updates followed so far (which decides the next exact recomputation). With the
    /// weights, this is all a checkpoint needs: the batch's `W^T Δ` or `B Δ` and the
    /// factorisations are rebuilt before they are read.
    pub fn kept_products(&self) -> (Vec<Option<&Mat<f64>>>, usize) {
        (
            self.kept
                .iter()
                .map(|k| k.as_ref().map(|k| &k.product))
                .collect(),
            self.updates,
        )
    }

    /// Puts back what [`Inverter::kept_products`] returned, for the weights of `net`
    /// (which the checkpoint saved with them): the inversions then go on bit for bit as
    /// they would have. An error if they do not fit this network and credit rule.
    pub fn restore(
        &mut self,
        net: &Network,
        products: Vec<Option<Mat<f64>>>,
        updates: usize,
    ) -> Result<(), String> {
        if products.len() != self.kept.len() {
            return Err(format!(
                "{} kept products for {} layers",
                products.len(),
                self.kept.len()
            ));
        }
        for (i, (k, p)) in self.kept.iter().zip(&products).enumerate() {
            let layer = &net.layers[i];
            let n = match k.as_ref().map(|k| k.form) {
                None if p.is_none() => continue,
                Some(Form::Gram | Form::NdiExpanding) => layer.d_in(),
                Some(Form::GramWide | Form::NdiContracting) => layer.d_out(),
                None => {
                    return Err(format!(
                        "a kept product for layer {}, which keeps none",
                        i + 1
                    ))
                }
            };
            match p {
                None => return Err(format!("no kept product for layer {}", i + 1)),
                Some(p) if (p.nrows(), p.ncols()) != (0, 0) && (p.nrows(), p.ncols()) != (n, n) => {
                    return Err(format!(
                        "the kept product of layer {} is {} × {}, expected {n} × {n}",
                        i + 1,
                        p.nrows(),
                        p.ncols()
                    ))
                }
                Some(_) => {}
            }
        }
        for (k, p) in self.kept.iter_mut().zip(products) {
            if let (Some(k), Some(p)) = (k, p) {
                k.product = p;
                k.rhs = Mat::new();
                k.factored = None;
            }
        }
        self.updates = updates;
        Ok(())
    }

    /// Largest relative difference between a kept product and its direct computation
    /// (for tests of the drift).
    pub fn drift(&self, net: &Network, fb: &Feedback) -> Result<f64, CoreError> {
        let mut worst = 0.0_f64;
        for (i, k) in self.kept.iter().enumerate() {
            let Some(k) = k else { continue };
            if k.product.nrows() == 0 {
                continue;
            }
            let b = match k.form {
                Form::Gram | Form::GramWide => None,
                _ => Some(fb.get(i)?),
            };
            let exact = direct_product(k.form, net.layers[i].w.as_ref(), b);
            let mut diff = &k.product - &exact;
            if matches!(k.form, Form::Gram | Form::GramWide) {
                // Only the lower triangle of a Gram matrix is kept.
                for j in 0..diff.ncols() {
                    for r in 0..j {
                        diff[(r, j)] = 0.0;
                    }
                }
            }
            worst = worst.max(diff.norm_l2() / exact.norm_l2());
        }
        Ok(worst)
    }
}

impl Kept {
    /// Follows one update of the layer's weights, now `w` (see
    /// [`Inverter::update_and_follow`]).
    #[allow(clippy::too_many_arguments)]
    fn follow(
        &mut self,
        w: MatRef<'_, f64>,
        b: Option<MatRef<'_, f64>>,
        decay: f64,
        learning_rate: f64,
        h: MatRef<'_, f64>,
        d: MatRef<'_, f64>,
        refresh: bool,
    ) {
        self.factored = None;
        if refresh {
            self.product = direct_product(self.form, w, b);
            return;
        }
        let p = &mut self.product;
        match self.form {
            Form::Gram => {
                // G' = c²G − η(Y'H^T + H Y'^T), Y' = c W^T Δ − (η/2) H (Δ^T Δ)
                // (expand (cW − ηΔH^T)^T (cW − ηΔH^T) to check).
                // (`W^T Δ` is not needed again: the next backward pass replaces it.)
                let s = mul_halves(d.transpose(), d);
                let mut y = std::mem::replace(&mut self.rhs, Mat::new());
                decay_and_add_rows(y.as_mut(), decay, h, s.as_ref(), -0.5 * learning_rate);
                // Only the lower triangle is kept: Cholesky reads nothing else.
                scale(p, decay * decay);
                lower_rank2k_update(p.as_mut(), y.as_ref(), h, -learning_rate);
            }
            Form::GramWide => {
                // With the new weights' Z = W'H and S = H^T H:
                // G' = c²G − η(YΔ^T + ΔY^T), Y = Z + (η/2) Δ S
                // (expand (cW − ηΔH^T)(cW − ηΔH^T)^T with cWH = Z + ηΔS to check).
                let s = mul_halves(h.transpose(), h);
                let mut y = mul_halves(w, h);
                matmul_halves(
                    y.as_mut(),
                    Accum::Add,
                    d,
                    s.as_ref(),
                    0.5 * learning_rate,
                    Halve::Rows,
                );
                scale(p, decay * decay);
                lower_rank2k_update(p.as_mut(), y.as_ref(), d, -learning_rate);
            }
            Form::NdiExpanding => {
                // (B W)' = c B W − η (B Δ) H^T.
                decay_and_add_rows(
                    p.as_mut(),
                    decay,
                    self.rhs.as_ref(),
                    h.transpose(),
                    -learning_rate,
                );
            }
            Form::NdiContracting => {
                // (W B)' = c W B − η Δ (H^T B).
                let b = b.expect("NDI keeps its feedback");
                let htb = mul_halves(h.transpose(), b);
                decay_and_add_rows(p.as_mut(), decay, d, htb.as_ref(), -learning_rate);
            }
        }
    }

    /// Builds the product if it is missing and factorises it unless that was done for
    /// the current product; returns the layer's feedback matrix for the NDI forms.
    fn factorise<'f>(
        &mut self,
        w: MatRef<'_, f64>,
        fb: &'f Feedback,
        i: usize,
        alpha: f64,
    ) -> Result<Option<MatRef<'f, f64>>, CoreError> {
        let b = match self.form {
            Form::Gram | Form::GramWide => None,
            _ => {
                let b = fb.get(i)?;
                check_feedback_shape(w, b)?;
                Some(b)
            }
        };
        if self.factored.is_some() {
            return Ok(b);
        }
        if self.product.nrows() == 0 {
            self.product = direct_product(self.form, w, b);
        }
        self.factored = Some(match self.form {
            Form::Gram | Form::GramWide => self.factor.cholesky(self.product.as_ref()),
            _ => self.factor.lu(self.product.as_ref(), alpha),
        });
        Ok(b)
    }
}

fn scale(m: &mut Mat<f64>, c: f64) {
    if c != 1.0 {
        for j in 0..m.ncols() {
            for v in m.col_as_slice_mut(j) {
                *v *= c;
            }
        }
    }
}

/// `P ← P + α (Y X^T + X Y^T)` on the lower triangle of the square `P` (the rest is
/// not touched), as two tasks of equal work with fixed bounds, so the bits do not
/// depend on the thread count: the two diagonal triangles, and the rectangle below the
/// first.
fn lower_rank2k_update(p: MatMut<'_, f64>, y: MatRef<'_, f64>, x: MatRef<'_, f64>, alpha: f64) {
    let n = p.nrows();
    let j0 = n / 2;
    let (top_left, _, bottom_left, bottom_right) = p.split_at_mut(j0, j0);
    let triangle = |mut t: MatMut<'_, f64>, rows: std::ops::Range<usize>| {
        let (y, x) = (
            y.subrows(rows.start, rows.len()),
            x.subrows(rows.start, rows.len()),
        );
        for (lhs, rhs) in [(y, x), (x, y)] {
            triangular::matmul(
                t.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Add,
                lhs,
                BlockStructure::Rectangular,
                rhs.transpose(),
                BlockStructure::Rectangular,
                alpha,
                Par::Seq,
            );
        }
    };
    crate::kernels::split::join(
        || {
            triangle(top_left, 0..j0);
            triangle(bottom_right, j0..n);
        },
        || {
            let mut r = bottom_left;
            let (below, above) = (j0..n, 0..j0);
            for (lhs, rhs) in [(y, x), (x, y)] {
                faer::linalg::matmul::matmul(
                    r.as_mut(),
                    Accum::Add,
                    lhs.subrows(below.start, below.len()),
                    rhs.subrows(above.start, above.len()).transpose(),
                    alpha,
                    Par::Seq,
                );
            }
        },
    );
}

fn direct_product(form: Form, w: MatRef<'_, f64>, b: Option<MatRef<'_, f64>>) -> Mat<f64> {
    match (form, b) {
        (Form::Gram, _) => mul(w.transpose(), w),
        (Form::GramWide, _) => mul(w, w.transpose()),
        (Form::NdiExpanding, Some(b)) => mul(b, w),
        (Form::NdiContracting, Some(b)) => mul(w, b),
        _ => Mat::new(),
    }
}

impl Default for Factor {
    fn default() -> Self {
        Factor {
            lu: Mat::new(),
            perm: Vec::new(),
            perm_inv: Vec::new(),
        }
    }
}

impl Factor {
    /// Storage for an `n × n` factorisation, reused while `n` stays the same.
    fn reserve(&mut self, n: usize) {
        if self.lu.nrows() != n || self.lu.ncols() != n {
            self.lu = Mat::zeros(n, n);
        }
    }

    /// A copy of the square `p` to factorise, in reused storage.
    fn load(&mut self, p: MatRef<'_, f64>) {
        self.reserve(p.nrows());
        self.lu.copy_from(p);
    }

    /// Cholesky factorisation of a symmetric positive definite `G` of which only the
    /// lower triangle is read; `false` when it fails or is not accurate enough for the
    /// normal equations (pivots collapsed, or estimated `cond₁(G)` above
    /// [`crate::inverse::MAX_GRAM_CONDITION`]), exactly as [`pinv_apply`] judges,
    /// so the caller falls back to it (and so to the SVD). The judgement costs `O(n²)`.
    fn cholesky(&mut self, g: MatRef<'_, f64>) -> bool {
        use faer::dyn_stack::{MemBuffer, MemStack};
        use faer::linalg::cholesky::llt::factor;
        let n = g.nrows();
        let gram_norm1 = symmetric_lower_norm1(g);
        self.load(g);
        let params: factor::LltParams = faer::auto!(f64);
        let mut mem = MemBuffer::new(factor::cholesky_in_place_scratch::<f64>(
            n,
            Par::Seq,
            params.into(),
        ));
        if factor::cholesky_in_place(
            self.lu.as_mut(),
            Default::default(),
            Par::Seq,
            MemStack::new(&mut mem),
            params.into(),
        )
        .is_err()
        {
            return false;
        }
        gram_factor_is_accurate(self.lu.as_ref(), gram_norm1)
    }

    /// `G^{-1} Y` after [`Factor::cholesky`], in two halves of the columns.
    fn cholesky_solve(&self, mut y: Mat<f64>) -> Mat<f64> {
        use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
        use faer::linalg::cholesky::llt::solve;
        for_halves(y.as_mut(), Halve::Columns, |half, _| {
            solve::solve_in_place_with_conj(
                self.lu.as_ref(),
                faer::Conj::No,
                half,
                Par::Seq,
                MemStack::new(&mut MemBuffer::new(StackReq::EMPTY)),
            )
        });
        y
    }

    /// LU factorisation with partial pivoting of `P − αI`, in reused storage (a third
    /// faster than `Mat::partial_piv_lu`, which copies the factors out); `false` when
    /// `P − αI` is numerically singular (smallest pivot below `1e3 · ε · n · max|P − αI|`,
    /// as [`ndi_apply`] judges).
    fn lu(&mut self, p: MatRef<'_, f64>, alpha: f64) -> bool {
        use faer::dyn_stack::{MemBuffer, MemStack};
        use faer::linalg::lu::partial_pivoting::factor;
        let n = p.nrows();
        if n == 0 {
            return false;
        }
        // Copy, shift and the largest |entry| in one pass, column by column; eight
        // running maxima let the loop vectorise (a maximum does not depend on order).
        self.reserve(n);
        let mut lanes = [0.0_f64; 8];
        for j in 0..n {
            let col = self.lu.col_as_slice_mut(j);
            col.copy_from_slice(
                p.col(j)
                    .try_as_col_major()
                    .expect("kept product")
                    .as_slice(),
            );
            col[j] -= alpha;
            let chunks = col.chunks_exact(8);
            for (lane, v) in lanes.iter_mut().zip(chunks.remainder()) {
                *lane = lane.max(v.abs());
            }
            for c in chunks {
                for (lane, v) in lanes.iter_mut().zip(c) {
                    *lane = lane.max(v.abs());
                }
            }
        }
        let max = lanes.into_iter().fold(0.0, f64::max);
        let lu = &mut self.lu;
        self.perm.resize(n, 0);
        self.perm_inv.resize(n, 0);
        let params: factor::PartialPivLuParams = faer::auto!(f64);
        let mut mem = MemBuffer::new(factor::lu_in_place_scratch::<usize, f64>(
            n,
            n,
            Par::Seq,
            params.into(),
        ));
        factor::lu_in_place(
            lu.as_mut(),
            &mut self.perm,
            &mut self.perm_inv,
            Par::Seq,
            MemStack::new(&mut mem),
            params.into(),
        );
        let min_pivot = (0..n)
            .map(|i| lu[(i, i)].abs())
            .fold(f64::INFINITY, f64::min);
        !(min_pivot.is_nan() || min_pivot <= 1e3 * f64::EPSILON * max * n as f64)
    }

    /// `(P − αI)^{-1} Y` after [`Factor::lu`], in two halves of the columns.
    fn lu_solve(&self, mut y: Mat<f64>) -> Mat<f64> {
        use faer::dyn_stack::{MemBuffer, MemStack};
        use faer::linalg::lu::partial_pivoting::solve;
        let n = self.lu.nrows();
        let perm = faer::perm::PermRef::new_checked(&self.perm, &self.perm_inv, n);
        for_halves(y.as_mut(), Halve::Columns, |half, _| {
            let mut mem = MemBuffer::new(solve::solve_in_place_scratch::<usize, f64>(
                n,
                half.ncols(),
                Par::Seq,
            ));
            solve::solve_in_place_with_conj(
                self.lu.as_ref(),
                self.lu.as_ref(),
                perm,
                faer::Conj::No,
                half,
                Par::Seq,
                MemStack::new(&mut mem),
            );
        });
        y
    }
}
