//! Online training of a one-hidden-layer MNIST classifier (supp. 7.5.4), one example
//! per update, with every credit-assignment method.
//!
//! # Exact online updates in blocks
//! Online SGD touches the whole `hidden × 784` first-layer matrix twice per example
//! (forward product, rank-one update), which makes it memory-bound. Within a block of
//! `K` consecutive examples the first layer is, exactly,
//!
//! ```text
//!   W^{(j)} = d^j W̃ + Σ_{i<j} d^{j−1−i} (−η) δ_i x_i^T          (d = weight-decay factor)
//! ```
//!
//! with `W̃` the matrix at the block's start, so the pre-activation of example `j` is
//! `d^j (W̃ x_j) + Σ_{i<j} (−η d^{j−1−i} x_i·x_j) δ_i`. `W̃ X` for the whole block is one
//! matrix product, the corrections cost `O(K·hidden)` per example, and the block's
//! updates are folded in with one more product at its end. This is online SGD, not a
//! mini-batch approximation: only the order of floating-point sums differs (tested
//! against the example-by-example update).

use dinv_core::dynamics::{Integration, Solver};
use dinv_core::kernels::vecops::matvec;
use dinv_core::metrics::{angle_deg, feedback_alignment_deg};
use dinv_core::net::softmax_into;
use dinv_core::stability::{spectral_abscissa, SsaConfig, SsaOutcome};
use dinv_core::{Activation, ClosedForm, Credit, LayerLink, Method, SsaSystem, UpdateRule};
use dinv_data::mnist::Split;
use dinv_data::preprocess::Normaliser;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};

use crate::curves::MetricLog;

/// The classifier's parameters.
#[derive(Clone, Debug)]
pub struct Classifier {
    /// `hidden × d_in`.
    pub w1: Mat<f64>,
    pub b1: Vec<f64>,
    /// `classes × hidden`.
    pub w2: Mat<f64>,
    pub b2: Vec<f64>,
    /// Feedback `B_2` (`hidden × classes`) for FA, NDI and DI.
    pub b_fb: Option<Mat<f64>>,
    pub act: Activation,
}

/// Everything one model's training needs.
pub struct Setup<'a> {
    pub name: &'a str,
    pub model: Classifier,
    pub credit: Credit,
    pub update: UpdateRule,
    pub train: &'a Split,
    pub test: &'a Split,
    pub normaliser: &'a Normaliser,
    /// Example order of every epoch (indices into `train`).
    pub orders: &'a [Vec<usize>],
    pub evaluations_per_epoch: usize,
    pub window: usize,
    /// Simulate DI with `euler_reference` every this many examples (0 = never).
    pub euler_check_every: usize,
    pub euler_reference: Integration,
    /// DI only: before each example, if the linearised dynamics (Eq. S9) are unstable,
    /// re-stabilise `B_2` by SSA descent (through the reduced system), as the
    /// regression protocol does (supp. 7.5.1).
    pub restabilise: Option<SsaConfig>,
    /// Also log, at each evaluation, the weight norms and the hidden layer's saturation
    /// on the test set, and (DI with re-stabilisation) the spectral abscissa of every
    /// check made since the last evaluation, before any intervention.
    pub diagnostics: bool,
}

pub struct Output {
    pub log: MetricLog,
    pub model: Classifier,
}

/// Where training stands between two blocks of examples: everything it needs to go on
/// exactly as if it had never stopped (the example orders are drawn up front from
/// their seed, the DI solvers keep nothing from one example to the next, and a block's
/// buffers are scratch). The stage saves it as a checkpoint.
#[derive(Clone, Debug)]
pub struct TrainState {
    /// The weights so far (`B_2` as re-stabilised so far, for DI).
    pub model: Classifier,
    /// Metrics logged so far, re-stabilisations included.
    pub log: MetricLog,
    /// Examples trained on so far.
    pub step: usize,
    /// The epoch (index into [`Setup::orders`]) and the position in its order of the
    /// next example.
    pub epoch: usize,
    pub pos: usize,
    /// The online accumulators since the last evaluation.
    pub interval: Interval,
}

/// A hidden unit counts as saturated when `g′(a) <` this (for tanh, `|h| > 0.99`).
pub const SATURATED_BELOW: f64 = 0.02;

/// One pass over the test set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub error: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Share of (example, hidden unit) pairs with `g′(a_1) <` [`SATURATED_BELOW`].
    pub saturated: f64,
    /// Mean `g′(a_1)` over examples and hidden units.
    pub mean_gprime: f64,
}

/// Test-set error rate, mean cross-entropy and hidden saturation, in blocks of examples.
pub fn evaluate(m: &Classifier, test: &Split, normaliser: &Normaliser) -> Evaluation {
    const BLOCK: usize = 500;
    let (h, c, d) = (m.w1.nrows(), m.w2.nrows(), m.w1.ncols());
    let mut x = Mat::<f64>::zeros(d, BLOCK);
    let mut a = Mat::<f64>::zeros(h, BLOCK);
    let mut z = Mat::<f64>::zeros(c, BLOCK);
    let (mut wrong, mut loss) = (0usize, 0.0);
    let (mut saturated, mut gprime_sum) = (0usize, 0.0);
    let mut start = 0;
    while start < test.n {
        let cols = BLOCK.min(test.n - start);
        let idx: Vec<usize> = (start..start + cols).collect();
        normaliser.batch_into(test, &idx, x.as_mut().subcols_mut(0, cols));
        matmul(
            a.as_mut().subcols_mut(0, cols),
            Accum::Replace,
            m.w1.as_ref(),
            x.as_ref().subcols(0, cols),
            1.0,
            Par::Seq,
        );
        for j in 0..cols {
            let col = a.col_as_slice_mut(j);
            for (v, b) in col.iter_mut().zip(&m.b1) {
                *v += b;
            }
            m.act.apply_in_place(col);
            for &hq in col.iter() {
                let g = m.act.derivative_from_output(hq);
                gprime_sum += g;
                saturated += usize::from(g < SATURATED_BELOW);
            }
        }
        matmul(
            z.as_mut().subcols_mut(0, cols),
            Accum::Replace,
            m.w2.as_ref(),
            a.as_ref().subcols(0, cols),
            1.0,
            Par::Seq,
        );
        for j in 0..cols {
            let logits: Vec<f64> = z
                .col_as_slice(j)
                .iter()
                .zip(&m.b2)
                .map(|(v, b)| v + b)
                .collect();
            let label = test.labels[start + j] as usize;
            let best = (0..c).fold(0, |b, k| if logits[k] > logits[b] { k } else { b });
            if best != label {
                wrong += 1;
            }
            loss += dinv_core::net::log_sum_exp(&logits) - logits[label];
        }
        start += cols;
    }
    let units = (test.n * h) as f64;
    Evaluation {
        error: wrong as f64 / test.n as f64,
        loss: loss / test.n as f64,
        saturated: saturated as f64 / units,
        mean_gprime: gprime_sum / units,
    }
}

/// Per-interval accumulators, reported at each evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interval {
    pub n: usize,
    pub loss: f64,
    pub wrong: usize,
    pub angle_ndi: f64,
    pub angle_n: usize,
    pub di_steps: f64,
    pub di_euler: f64,
    /// Stability checks before DI examples (spectral abscissa of Eq. S9 before any
    /// re-stabilisation): how many, how many positive, their sum and maximum.
    pub checks: usize,
    pub checks_positive: usize,
    pub check_sum: f64,
    pub check_max: f64,
}

impl Interval {
    fn record_check(&mut self, abscissa: f64) {
        self.check_max = if self.checks == 0 {
            abscissa
        } else {
            self.check_max.max(abscissa)
        };
        self.checks += 1;
        self.checks_positive += usize::from(abscissa > 0.0);
        self.check_sum += abscissa;
    }
}

/// Re-stabilises `B_2` when the spectral abscissa of Eq. (S9) is positive (core's
/// policy, through the reduced system: a dense Lyapunov solve of size 1010 per SSA
/// step is not affordable); returns the abscissa before any intervention and the SSA
/// run if there was one. Checking costs one `10 × 1000 × 10` product and a 10 × 10
/// eigenproblem, small beside DI's solve.
fn keep_stable(
    m: &mut Classifier,
    credit: &Credit,
    cfg: &SsaConfig,
) -> Result<(f64, Option<SsaOutcome>), String> {
    let b = m.b_fb.as_ref().ok_or("DI needs feedback weights B_2")?;
    let (a, out) = credit
        .restabilise_layer(m.w2.as_ref(), b.as_ref(), 2, cfg, SsaSystem::Reduced)
        .map_err(|e| {
            let before = credit
                .layer_abscissa(m.w2.as_ref(), b.as_ref())
                .map_or_else(|e| format!("not computed: {e}"), |a| format!("{a:+.3e}"));
            format!(
                "re-stabilising B_2 by SSA (spectral abscissa {before} before it): {e}. The \
                 SSA settings are `training.restabilise` in the pipeline TOML (now \
                 learning_rate = {}, max_iters = {}, epsilon = {}, margin = {}): raise \
                 max_iters, or change its learning_rate or epsilon; or lower the training \
                 learning rate, which moved W_2 this far",
                cfg.learning_rate, cfg.max_iters, cfg.epsilon, cfg.margin
            )
        })?;
    if let Some(out) = &out {
        m.b_fb = Some(out.b.clone());
    }
    Ok((a, out))
}

/// `δ_1`, and DI's steps and solver when DI ran.
type HiddenError = (Vec<f64>, Option<(usize, Solver)>);

/// `δ_1` for the hidden layer from the output error (core's Eq. 3 for one layer, PBP
/// and NDI by factorisations of the 10 × 10 products), before any cap (none is used on
/// MNIST, supp. 7.5.1). Returns the DI record (steps, solver) when DI ran. Unstable DI
/// dynamics are refused (`CoreError::UnstableDynamics`, naming the abscissa), and the
/// stage fails at this example: `keep_stable` re-stabilises `B_2` before every example,
/// so that happens only without `training.restabilise`.
fn hidden_error(
    m: &Classifier,
    credit: &Credit,
    delta2: &[f64],
    gprime: &[f64],
) -> Result<HiddenError, String> {
    if credit.method == Method::Sdi {
        return Err("single-loop DI needs two hidden layers".into());
    }
    let link = LayerLink {
        w: m.w2.as_ref(),
        b: m.b_fb.as_ref().map(Mat::as_ref),
        layer: 2,
        act_below: m.act,
        gprime_below: gprime,
    };
    let (d1, inv) = credit
        .propagate_layer(&link, delta2, ClosedForm::Factored)
        .map_err(|e| e.to_string())?;
    Ok((d1, inv.map(|inv| (inv.steps, inv.solved_by))))
}

/// Online training over all epochs.
pub fn train(s: Setup<'_>, progress: impl FnMut(u64)) -> Result<Output, String> {
    train_from(s, None, progress, |_| {})
}

/// [`train`] from `start` (a [`TrainState`] an earlier call passed to `at_block_end`)
/// or, with `None`, from `s.model`; `at_block_end` sees the state after every block of
/// examples (and its evaluation, if one was due), a point from which training can
/// resume exactly.
pub fn train_from(
    s: Setup<'_>,
    start: Option<TrainState>,
    mut progress: impl FnMut(u64),
    mut at_block_end: impl FnMut(&TrainState),
) -> Result<Output, String> {
    let fail =
        |step: usize, e: &dyn std::fmt::Display| format!("model `{}`, example {step}: {e}", s.name);
    s.update.validate().map_err(|e| fail(0, &e))?;
    let (hid, classes, d_in) = (s.model.w1.nrows(), s.model.w2.nrows(), s.model.w1.ncols());
    let per_epoch = s.orders.first().map(Vec::len).unwrap_or(0);
    let total = per_epoch * s.orders.len();
    let eval_every = per_epoch.div_ceil(s.evaluations_per_epoch).max(1);
    let eta = s.update.learning_rate;
    let d = s.update.decay_factor();
    let ndi = Credit::new(Method::Ndi, s.credit.alpha);

    let evaluate_and_log =
        |m: &Classifier, step: usize, iv: &Interval, log: &mut MetricLog| -> Result<(), String> {
            let ev = evaluate(m, s.test, s.normaliser);
            if !ev.loss.is_finite() {
                return Err(fail(
                    step,
                    &format!("training diverged (test loss {})", ev.loss),
                ));
            }
            log.push(step, "test_error", 0, ev.error);
            log.push(step, "test_loss", 0, ev.loss);
            if s.diagnostics {
                log.push(step, "saturated", 1, ev.saturated);
                log.push(step, "mean_gprime", 1, ev.mean_gprime);
                log.push(step, "weight_norm", 1, m.w1.norm_l2());
                log.push(step, "weight_norm", 2, m.w2.norm_l2());
                if iv.checks > 0 {
                    log.push(step, "checks", 2, iv.checks as f64);
                    log.push(step, "checks_positive", 2, iv.checks_positive as f64);
                    log.push(step, "check_mean", 2, iv.check_sum / iv.checks as f64);
                    log.push(step, "check_max", 2, iv.check_max);
                }
            }
            if iv.n > 0 {
                log.push(step, "train_loss_online", 0, iv.loss / iv.n as f64);
                log.push(step, "train_error_online", 0, iv.wrong as f64 / iv.n as f64);
            }
            if iv.angle_n > 0 {
                log.push(step, "angle_ndi_deg", 1, iv.angle_ndi / iv.angle_n as f64);
                log.push(step, "di_steps", 1, iv.di_steps / iv.angle_n as f64);
                log.push(step, "di_euler", 1, iv.di_euler / iv.angle_n as f64);
            }
            if let Some(b) = &m.b_fb {
                log.push(
                    step,
                    "b_angle_deg",
                    2,
                    feedback_alignment_deg(b.as_ref(), m.w2.as_ref()),
                );
                if matches!(s.credit.method, Method::Ndi | Method::Di) {
                    let a = spectral_abscissa(m.w2.as_ref(), b.as_ref(), s.credit.alpha)
                        .map_err(|e| e.to_string())?;
                    log.push(step, "abscissa", 2, a);
                }
            }
            Ok(())
        };
    let mut st = match start {
        Some(st) => st,
        None => {
            let mut log = MetricLog::default();
            evaluate_and_log(&s.model, 0, &Interval::default(), &mut log)?;
            TrainState {
                model: s.model,
                log,
                step: 0,
                epoch: 0,
                pos: 0,
                interval: Interval::default(),
            }
        }
    };

    let k_max = s.window.max(1);
    let mut xw = Mat::<f64>::zeros(d_in, k_max);
    let mut yw = Mat::<f64>::zeros(hid, k_max);
    let mut gram = Mat::<f64>::zeros(k_max, k_max);
    let mut dw = Mat::<f64>::zeros(hid, k_max); // δ_1 of each example in the block
    let (mut a, mut hvec, mut gp, mut logits, mut p) = (
        vec![0.0; hid],
        vec![0.0; hid],
        vec![0.0; hid],
        vec![0.0; classes],
        Vec::new(),
    );
    let mut delta2 = vec![0.0; classes];
    while st.epoch < s.orders.len() && per_epoch > 0 {
        let order = &s.orders[st.epoch];
        let (mut step, pos) = (st.step, st.pos);
        let m = &mut st.model;
        let (iv, log) = (&mut st.interval, &mut st.log);
        // A block never crosses an evaluation point (nor, hence, an epoch's end).
        let next_eval = (step / eval_every + 1) * eval_every;
        let k = k_max.min(per_epoch - pos).min(next_eval - step);
        let idx = &order[pos..pos + k];
        s.normaliser
            .batch_into(s.train, idx, xw.as_mut().subcols_mut(0, k));
        matmul(
            yw.as_mut().subcols_mut(0, k),
            Accum::Replace,
            m.w1.as_ref(),
            xw.as_ref().subcols(0, k),
            1.0,
            Par::Seq,
        );
        matmul(
            gram.as_mut().submatrix_mut(0, 0, k, k),
            Accum::Replace,
            xw.as_ref().subcols(0, k).transpose(),
            xw.as_ref().subcols(0, k),
            1.0,
            Par::Seq,
        );
        for j in 0..k {
            step += 1;
            // a = d^j (W̃ x_j) + Σ_{i<j} (−η d^{j−1−i} x_i·x_j) δ_i + b_1
            let dj = d.powi(j as i32);
            for (ai, (yi, bi)) in a.iter_mut().zip(yw.col_as_slice(j).iter().zip(&*m.b1)) {
                *ai = dj * yi + bi;
            }
            for i in 0..j {
                let c = -eta * d.powi((j - 1 - i) as i32) * gram[(i, j)];
                for (ai, di) in a.iter_mut().zip(dw.col_as_slice(i)) {
                    *ai += c * di;
                }
            }
            for q in 0..hid {
                hvec[q] = m.act.apply(a[q]);
                gp[q] = m.act.derivative_from_output(hvec[q]);
            }
            matvec(m.w2.as_ref(), &hvec, &mut logits);
            for (l, b) in logits.iter_mut().zip(&*m.b2) {
                *l += b;
            }
            softmax_into(&logits, &mut p);
            let label = s.train.labels[idx[j]] as usize;
            for c in 0..classes {
                delta2[c] = p[c] - if c == label { 1.0 } else { 0.0 };
            }
            iv.n += 1;
            iv.loss += -(p[label].max(f64::MIN_POSITIVE)).ln();
            let best = (0..classes).fold(0, |b, c| if logits[c] > logits[b] { c } else { b });
            if best != label {
                iv.wrong += 1;
            }
            if let (Some(cfg), Method::Di) = (&s.restabilise, s.credit.method) {
                let (abscissa, ssa) = keep_stable(m, &s.credit, cfg).map_err(|e| fail(step, &e))?;
                iv.record_check(abscissa);
                if let Some(out) = ssa {
                    log.push(step, "restabilised_from", 2, out.abscissa_before);
                    log.push(step, "restabilised_to", 2, out.abscissa_after);
                    log.push(step, "ssa_iterations", 2, out.iterations as f64);
                }
            }
            let (d1, record) =
                hidden_error(&*m, &s.credit, &delta2, &gp).map_err(|e| fail(step, &e))?;
            if d1.iter().any(|v| !v.is_finite()) {
                return Err(fail(step, &"non-finite hidden error signal"));
            }
            if let Some((steps, solver)) = record {
                let (reference, _) =
                    hidden_error(&*m, &ndi, &delta2, &gp).map_err(|e| fail(step, &e))?;
                iv.angle_ndi += angle_deg(&d1, &reference);
                iv.angle_n += 1;
                iv.di_steps += steps as f64;
                iv.di_euler += f64::from(matches!(solver, Solver::Euler | Solver::PoweredEuler));
                if s.euler_check_every > 0 && step.is_multiple_of(s.euler_check_every) {
                    let mut euler = s.credit;
                    euler.di.solver = Solver::Euler;
                    euler.di.integration = s.euler_reference;
                    let (e1, rec) =
                        hidden_error(&*m, &euler, &delta2, &gp).map_err(|e| fail(step, &e))?;
                    log.push(step, "euler_vs_solver_deg", 1, angle_deg(&e1, &d1));
                    log.push(step, "euler_vs_ndi_deg", 1, angle_deg(&e1, &reference));
                    log.push(step, "solver_vs_ndi_deg", 1, angle_deg(&d1, &reference));
                    log.push(
                        step,
                        "euler_steps",
                        1,
                        rec.map(|r| r.0 as f64).unwrap_or(f64::NAN),
                    );
                }
            }
            // Second layer and biases: plain online updates.
            for (c, hc) in hvec.iter().enumerate() {
                let col = m.w2.col_as_slice_mut(c);
                for (w, dl) in col.iter_mut().zip(&delta2) {
                    *w = d * *w - eta * dl * hc;
                }
            }
            for (b, dl) in m.b2.iter_mut().zip(&delta2) {
                *b = d * *b - eta * dl;
            }
            for (b, dl) in m.b1.iter_mut().zip(&d1) {
                *b = d * *b - eta * dl;
            }
            dw.col_as_slice_mut(j).copy_from_slice(&d1);
        }
        // Fold the block into W̃: W ← d^k W̃ + Σ_i (−η d^{k−1−i}) δ_i x_i^T.
        let dk = d.powi(k as i32);
        if dk != 1.0 {
            for c in 0..d_in {
                for w in m.w1.col_as_slice_mut(c) {
                    *w *= dk;
                }
            }
        }
        for i in 0..k {
            let c = -eta * d.powi((k - 1 - i) as i32);
            for v in dw.col_as_slice_mut(i) {
                *v *= c;
            }
        }
        matmul(
            m.w1.as_mut(),
            Accum::Add,
            dw.as_ref().subcols(0, k),
            xw.as_ref().subcols(0, k).transpose(),
            1.0,
            Par::Seq,
        );
        progress(k as u64);
        if step.is_multiple_of(eval_every) || step == total {
            evaluate_and_log(&*m, step, iv, log)?;
            *iv = Interval::default();
        }
        st.step = step;
        st.pos = pos + k;
        if st.pos == per_epoch {
            st.epoch += 1;
            st.pos = 0;
        }
        at_block_end(&st);
    }
    Ok(Output {
        log: st.log,
        model: st.model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dinv_core::dynamics::Dynamics;
    use dinv_core::init::uniform_mat;
    use dinv_core::{DecayMode, DiSettings, Feedback, Layer, Loss, Network};
    use dinv_data::preprocess::{Centering, PixelStats};
    use rand::{RngExt, SeedableRng};

    fn split(n: usize, seed: u64) -> Split {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Split {
            images: (0..n * 16).map(|_| rng.random_range(0..=255u8)).collect(),
            labels: (0..n).map(|_| rng.random_range(0..10u8)).collect(),
            n,
            rows: 4,
            cols: 4,
            files: Vec::new(),
        }
    }

    /// The blocked update is online SGD: it matches the example-by-example update of
    /// `dinv_core` (forward, softmax cross-entropy, backward, Eq. 2 with per-update
    /// decay) to rounding, for several methods and block sizes.
    #[test]
    fn blocked_online_updates_equal_example_by_example() {
        let train_set = split(37, 1);
        let test_set = split(11, 2);
        let norm = PixelStats::fit(&train_set)
            .unwrap()
            .normaliser(Centering::PerPixel);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (h, c, d) = (12, 10, 16);
        let w1 = uniform_mat(&mut rng, h, d, -0.3, 0.3);
        let w2 = uniform_mat(&mut rng, c, h, -0.3, 0.3);
        let orders: Vec<Vec<usize>> = vec![(0..37).rev().collect(), (0..37).collect()];
        let update = UpdateRule {
            weight_decay: 1e-3,
            decay: DecayMode::PerUpdate,
            ..UpdateRule::sgd(0.05)
        };
        let di = DiSettings {
            dynamics: Dynamics::Nonlinear,
            solver: Solver::SteadyState,
            ..DiSettings::default()
        };
        for credit in [
            Credit::new(Method::Bp, 0.0),
            Credit::new(Method::Ndi, 0.01),
            Credit::new(Method::Di, 0.05).with_di(di),
        ] {
            for window in [1, 5, 64] {
                let b_fb = dinv_core::feedback::neg_transpose(w2.as_ref(), 1.0);
                let model = Classifier {
                    w1: w1.clone(),
                    b1: vec![0.0; h],
                    w2: w2.clone(),
                    b2: vec![0.0; c],
                    b_fb: Some(b_fb.clone()),
                    act: Activation::Tanh,
                };
                let out = train(
                    Setup {
                        name: "t",
                        model,
                        credit,
                        update,
                        train: &train_set,
                        test: &test_set,
                        normaliser: &norm,
                        orders: &orders,
                        evaluations_per_epoch: 3,
                        window,
                        euler_check_every: 0,
                        euler_reference: Integration::default(),
                        restabilise: None,
                        diagnostics: false,
                    },
                    |_| {},
                )
                .unwrap();
                // Reference: dinv-core, one example at a time.
                let mut net = Network::new(vec![
                    Layer {
                        w: w1.clone(),
                        b: Some(vec![0.0; h]),
                        act: Activation::Tanh,
                    },
                    Layer {
                        w: w2.clone(),
                        b: Some(vec![0.0; c]),
                        act: Activation::Linear,
                    },
                ])
                .unwrap();
                let mut fb = Feedback::none(2);
                fb.b[1] = Some(b_fb);
                let mut x = vec![0.0; d];
                let mut t = vec![0.0; c];
                let mut dout = Vec::new();
                for order in &orders {
                    for &k in order {
                        norm.example_into(train_set.image(k), &mut x);
                        dinv_data::preprocess::one_hot_into(train_set.labels[k], &mut t);
                        let trace = net.forward(&x);
                        Loss::SoftmaxCrossEntropy.output_delta(&trace, &t, &mut dout);
                        let back = credit.backward(&net, &trace, &fb, &dout).unwrap();
                        update.apply(&mut net, &trace, &back.deltas);
                    }
                }
                let rel = |a: &Mat<f64>, b: &Mat<f64>| (a - b).norm_l2() / b.norm_l2();
                let e1 = rel(&out.model.w1, &net.layers[0].w);
                let e2 = rel(&out.model.w2, &net.layers[1].w);
                // BP is the same arithmetic up to summation order; NDI/DI use an LU solve
                // where dinv-core's per-example path uses the SVD, which adds rounding.
                let tol = if credit.method == Method::Bp {
                    1e-10
                } else {
                    1e-8
                };
                assert!(
                    e1 < tol && e2 < tol,
                    "{:?} window {window}: W1 {e1:e}, W2 {e2:e}",
                    credit.method
                );
                let b1 = net.layers[0].b.as_ref().unwrap();
                let scale = b1.iter().map(|v| v.abs()).fold(f64::MIN_POSITIVE, f64::max);
                let db: f64 = out
                    .model
                    .b1
                    .iter()
                    .zip(b1)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
                    / scale;
                assert!(
                    db < tol,
                    "{:?} window {window}: b1 differs by {db:e} (relative)",
                    credit.method
                );
                // The test error was evaluated before training and 3 times per epoch.
                let evals = out.log.series("test_error", 0);
                assert_eq!(evals.len(), 1 + 2 * 3, "{evals:?}");
            }
        }
    }

    /// Saturation by hand: zero weights leave every unit at `tanh(b_1)`, so a bias of 0
    /// gives `g′ = 1` everywhere and a bias of ±3 (`g′ = 1 − tanh²3 ≈ 0.0099`)
    /// saturates every unit; half and half gives a share of one half.
    #[test]
    fn evaluate_measures_saturation() {
        let test_set = split(9, 8);
        let norm = PixelStats::fit(&test_set)
            .unwrap()
            .normaliser(Centering::PerPixel);
        let model = |b1: Vec<f64>| Classifier {
            w1: Mat::zeros(4, 16),
            b1,
            w2: Mat::zeros(10, 4),
            b2: vec![0.0; 10],
            b_fb: None,
            act: Activation::Tanh,
        };
        let ev = evaluate(&model(vec![0.0; 4]), &test_set, &norm);
        assert_eq!((ev.saturated, ev.mean_gprime), (0.0, 1.0));
        let ev = evaluate(&model(vec![3.0, -3.0, 3.0, -3.0]), &test_set, &norm);
        assert_eq!(ev.saturated, 1.0);
        let g3 = 1.0 - 3f64.tanh().powi(2);
        assert!((ev.mean_gprime - g3).abs() < 1e-15);
        let ev = evaluate(&model(vec![3.0, 0.0, -3.0, 0.0]), &test_set, &norm);
        assert_eq!(ev.saturated, 0.5);
        // Equal logits: every class has probability 1/10.
        assert!((ev.loss - 10f64.ln()).abs() < 1e-12);
    }

    /// DI with re-stabilisation, started from feedback `B = +W_2^T` (`W B` positive
    /// definite, so the dynamics are unstable): `B_2` is re-stabilised before the first
    /// example, and the final `(W_2, B_2)` is stable by the dense eigenvalues of the
    /// full block matrix of Eq. (S9). Without re-stabilisation, or when SSA cannot
    /// finish, the run fails at the first example and says why.
    #[test]
    fn di_restabilises_its_feedback() {
        let train_set = split(40, 4);
        let test_set = split(10, 5);
        let norm = PixelStats::fit(&train_set)
            .unwrap()
            .normaliser(Centering::PerPixel);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let (h, c, d) = (30, 10, 16);
        let w1 = uniform_mat(&mut rng, h, d, -0.3, 0.3);
        let w2 = uniform_mat(&mut rng, c, h, -0.3, 0.3);
        let orders: Vec<Vec<usize>> = vec![(0..40).collect()];
        let alpha = 0.05;
        let credit = Credit::new(Method::Di, alpha).with_di(DiSettings {
            dynamics: Dynamics::Nonlinear,
            solver: Solver::SteadyStateOrEuler,
            integration: Integration {
                dt: 0.1,
                steps: 2000,
                ..Integration::default()
            },
            ..DiSettings::default()
        });
        let b_unstable = dinv_core::feedback::neg_transpose(w2.as_ref(), -1.0);
        assert!(spectral_abscissa(w2.as_ref(), b_unstable.as_ref(), alpha).unwrap() > 0.0);
        let cfg = SsaConfig::default();
        let run = |restabilise: Option<SsaConfig>| {
            train(
                Setup {
                    name: "t",
                    model: Classifier {
                        w1: w1.clone(),
                        b1: vec![0.0; h],
                        w2: w2.clone(),
                        b2: vec![0.0; c],
                        b_fb: Some(b_unstable.clone()),
                        act: Activation::Tanh,
                    },
                    credit,
                    update: UpdateRule::sgd(0.01),
                    train: &train_set,
                    test: &test_set,
                    normaliser: &norm,
                    orders: &orders,
                    evaluations_per_epoch: 2,
                    window: 8,
                    euler_check_every: 0,
                    euler_reference: Integration::default(),
                    restabilise,
                    diagnostics: true,
                },
                |_| {},
            )
        };
        let out = run(Some(cfg)).unwrap();
        let before = out.log.series("restabilised_from", 2);
        assert!(!before.is_empty() && before[0].0 == 1, "{before:?}");
        assert!(before.iter().all(|&(_, a)| a > 0.0));
        // Diagnostics: every example was checked once, the positive checks are exactly
        // the re-stabilisations, and each interval's largest check is the largest
        // abscissa re-stabilised from within it (all of them positive).
        let sum = |name: &str| -> f64 { out.log.series(name, 2).iter().map(|p| p.1).sum() };
        assert_eq!(sum("checks"), 40.0);
        assert_eq!(sum("checks_positive"), before.len() as f64);
        for &(end, max) in &out.log.series("check_max", 2) {
            let within = before
                .iter()
                .filter(|&&(s, _)| s <= end && s + 20 > end)
                .map(|p| p.1)
                .fold(f64::NEG_INFINITY, f64::max);
            if within > f64::NEG_INFINITY {
                assert_eq!(max, within, "interval ending at {end}");
            } else {
                assert!(max <= 0.0, "interval ending at {end}: max {max}");
            }
        }
        // Weight norms and saturation: ‖W_1‖_F recomputed here, saturation in [0, 1].
        let norms = out.log.series("weight_norm", 1);
        let last = norms.last().unwrap().1;
        let fro = out.model.w1.norm_l2();
        assert!((last - fro).abs() <= 1e-12 * fro, "{last} vs {fro}");
        let sat = out.log.series("saturated", 1);
        assert_eq!(sat.len(), 3); // before training and twice per epoch
        assert!(sat.iter().all(|p| (0.0..=1.0).contains(&p.1)));
        let (m, b) = (&out.model.w2, out.model.b_fb.as_ref().unwrap());
        let full = dinv_core::stability::system_matrix(m.as_ref(), b.as_ref(), alpha).unwrap();
        let dense = dinv_core::stability::spectral_abscissa_dense(full.as_ref()).unwrap();
        assert!(dense < 0.0, "final abscissa {dense}");
        // Without re-stabilisation DI refuses the unstable dynamics at once, and the
        // stage fails naming the model, the example and the abscissa.
        let err = run(None).err().unwrap();
        assert!(
            err.starts_with("model `t`, example 1: dynamic inversion of layer 2")
                && err.contains("spectral abscissa"),
            "{err}"
        );
        // SSA that cannot finish says which settings to change.
        let hopeless = SsaConfig {
            min_iters: 1,
            max_iters: 1,
            learning_rate: 1e-9,
            ..cfg
        };
        let err = run(Some(hopeless)).err().unwrap();
        for expected in [
            "example 1:",
            "spectral abscissa +",
            "training.restabilise",
            "max_iters = 1",
            "learning_rate = 0.000000001",
        ] {
            assert!(err.contains(expected), "{expected:?} missing: {err}");
        }
    }
}
