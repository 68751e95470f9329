//! Online training of one model on a regression task, with the per-step
//! measurements of Fig. 3 (no I/O: the stage wrapper in `stages.rs` does that).

use dinv_core::chain::loop_neg_transpose;
use dinv_core::kernels::vecops::mul;
use dinv_core::metrics::{angle_deg, feedback_alignment_deg, matrix_angle_deg};
use dinv_core::{Credit, Feedback, Loss, Method, Network, SsaConfig, SsaSystem, Trace, UpdateRule};
use dinv_data::synthetic::RegressionData;
use faer::Mat;

use crate::curves::MetricLog;

/// A re-stabilisation of `B_l` (layer 0: SDI's loop) during training (supp. 7.5.1).
#[derive(Clone, Debug, PartialEq)]
pub struct StabilisationEvent {
    pub step: usize,
    pub layer: usize,
    pub abscissa_before: f64,
    pub abscissa_after: f64,
    pub iterations: usize,
}

/// When the training-set error is evaluated: after every example up to `dense_until`,
/// then every `every` examples (and always after the last one). Evaluating the whole
/// set after every example grows quadratically with its size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalSchedule {
    pub every: usize,
    pub dense_until: usize,
}

impl EvalSchedule {
    pub const EVERY_STEP: EvalSchedule = EvalSchedule {
        every: 1,
        dense_until: 0,
    };

    pub fn due(&self, step: usize, last: usize) -> bool {
        step <= self.dense_until || step == last || step.is_multiple_of(self.every.max(1))
    }
}

/// How the training-set error is evaluated after every update.
pub enum ErrorEval<'a> {
    /// Forward pass over the whole set (any network).
    Batch(&'a RegressionData),
    /// For a bias-free linear student and a linear teacher `t = T x`:
    /// `Σ_n ‖(P − T) x_n‖² = tr((P − T) G (P − T)^T)` with `P = W_L ⋯ W_1` and the
    /// input Gram matrix `G = Σ_n x_n x_n^T` — the same sum, in `O(d³)` per step.
    LinearTeacher { gram: Mat<f64>, teacher: Mat<f64> },
}

impl<'a> ErrorEval<'a> {
    /// The cheapest exact evaluator for this student and data.
    pub fn for_task(
        net: &Network,
        data: &'a RegressionData,
        linear_teacher: Option<&Mat<f64>>,
    ) -> Self {
        let linear_student = net
            .layers
            .iter()
            .all(|l| l.b.is_none() && l.act == dinv_core::Activation::Linear);
        match linear_teacher {
            Some(t) if linear_student => ErrorEval::LinearTeacher {
                gram: mul(data.x.as_ref(), data.x.transpose()),
                teacher: t.clone(),
            },
            _ => ErrorEval::Batch(data),
        }
    }

    /// Sum of squared errors over the training set.
    pub fn sse(&self, net: &Network) -> f64 {
        match self {
            ErrorEval::Batch(data) => batch_sse(net, data),
            ErrorEval::LinearTeacher { gram, teacher } => {
                let mut p = net.layers[0].w.clone();
                for l in &net.layers[1..] {
                    p = mul(l.w.as_ref(), p.as_ref());
                }
                let e = &p - teacher;
                let eg = mul(e.as_ref(), gram.as_ref());
                dinv_core::kernels::vecops::frobenius_dot(eg.as_ref(), e.as_ref())
            }
        }
    }
}

/// Sum of squared errors of `net` over `data`, in blocks of examples so the
/// activations stay in cache and nothing proportional to the data set is allocated.
fn batch_sse(net: &Network, data: &RegressionData) -> f64 {
    use faer::linalg::matmul::matmul;
    use faer::{Accum, Par};
    const BLOCK: usize = 256;
    let n = data.len();
    let mut bufs: Vec<Mat<f64>> = net
        .layers
        .iter()
        .map(|l| Mat::zeros(l.d_out(), BLOCK))
        .collect();
    let mut total = 0.0;
    let mut start = 0;
    while start < n {
        let cols = BLOCK.min(n - start);
        for (l, layer) in net.layers.iter().enumerate() {
            let (before, rest) = bufs.split_at_mut(l);
            let input = if l == 0 {
                data.x.as_ref().subcols(start, cols)
            } else {
                before[l - 1].as_ref().subcols(0, cols)
            };
            let out = &mut rest[0];
            matmul(
                out.as_mut().subcols_mut(0, cols),
                Accum::Replace,
                layer.w.as_ref(),
                input,
                1.0,
                Par::Seq,
            );
            for j in 0..cols {
                let col = out.col_as_slice_mut(j);
                if let Some(b) = &layer.b {
                    for (a, bi) in col.iter_mut().zip(b) {
                        *a += bi;
                    }
                }
                layer.act.apply_in_place(col);
            }
        }
        let y = bufs.last().expect("at least one layer");
        for j in 0..cols {
            let t = data.t.col_as_slice(start + j);
            for (yi, ti) in y.col_as_slice(j).iter().zip(t) {
                total += (yi - ti) * (yi - ti);
            }
        }
        start += cols;
    }
    total
}

/// Everything one model's training needs.
pub struct TrainSetup<'a> {
    pub name: &'a str,
    pub net: Network,
    pub feedback: Feedback,
    pub credit: Credit,
    pub update: UpdateRule,
    pub ssa: SsaConfig,
    pub restabilise: bool,
    pub data: &'a RegressionData,
    pub order: &'a [usize],
    pub eval: &'a ErrorEval<'a>,
    pub schedule: EvalSchedule,
    /// Steps after which the weights and feedback are saved (for later analyses).
    pub checkpoints: &'a [usize],
}

/// The network and feedback at one step.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub step: usize,
    pub net: Network,
    pub feedback: Feedback,
}

pub struct TrainOutput {
    pub log: MetricLog,
    pub events: Vec<StabilisationEvent>,
    pub net: Network,
    pub feedback: Feedback,
    pub checkpoints: Vec<Checkpoint>,
}

/// Online training: one update per example, in `order`. Step 0 records the initial
/// state, so every model's curve starts from the same error. DI's and SDI's error
/// signals are compared with chained NDI, PBP and BP at the same weights (using the
/// per-layer feedback matrices for NDI).
pub fn train(mut s: TrainSetup<'_>, mut progress: impl FnMut(u64)) -> Result<TrainOutput, String> {
    let fail =
        |step: usize, e: &dyn std::fmt::Display| format!("model `{}`, step {step}: {e}", s.name);
    s.update.validate().map_err(|e| fail(0, &e))?;
    s.feedback.check(&s.net).map_err(|e| fail(0, &e))?;
    let mut log = MetricLog::default();
    let mut events = Vec::new();
    let method = s.credit.method;
    let ndi = Credit::new(Method::Ndi, s.credit.alpha);
    let pbp = Credit::new(Method::Pbp, 0.0);
    let bp = Credit::new(Method::Bp, 0.0);

    record_state(&s, 0, &mut log).map_err(|e| fail(0, &e))?;
    let mut checkpoints = Vec::new();
    let mut save = |s: &TrainSetup<'_>, step: usize| {
        if s.checkpoints.contains(&step) {
            checkpoints.push(Checkpoint {
                step,
                net: s.net.clone(),
                feedback: s.feedback.clone(),
            });
        }
    };
    save(&s, 0);
    let sse0 = s.eval.sse(&s.net);
    log.push(0, "sse", 0, sse0);

    let mut trace = Trace::default();
    let mut d_out = Vec::new();
    let mut x = vec![0.0; s.data.x.nrows()];
    let mut t = vec![0.0; s.data.t.nrows()];
    for (k, &idx) in s.order.iter().enumerate() {
        let step = k + 1;
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = s.data.x[(i, idx)];
        }
        for (i, ti) in t.iter_mut().enumerate() {
            *ti = s.data.t[(i, idx)];
        }
        s.net.forward_into(&x, &mut trace);
        Loss::SquaredError.output_delta(&trace, &t, &mut d_out);
        let mut back = s
            .credit
            .backward(&s.net, &trace, &s.feedback, &d_out)
            .map_err(|e| fail(step, &e))?;

        if method.is_dynamic() {
            // Compare DI's error signals with the closed forms at the same weights.
            let reference = |c: &Credit| c.backward(&s.net, &trace, &s.feedback, &d_out);
            let r_ndi = reference(&ndi).map_err(|e| fail(step, &e))?;
            let r_pbp = reference(&pbp).map_err(|e| fail(step, &e))?;
            let r_bp = reference(&bp).map_err(|e| fail(step, &e))?;
            for l in 0..back.deltas.len() - 1 {
                log.push(
                    step,
                    "angle_ndi_deg",
                    l + 1,
                    angle_deg(&back.deltas[l], &r_ndi.deltas[l]),
                );
                log.push(
                    step,
                    "angle_pbp_deg",
                    l + 1,
                    angle_deg(&back.deltas[l], &r_pbp.deltas[l]),
                );
                log.push(
                    step,
                    "angle_bp_deg",
                    l + 1,
                    angle_deg(&back.deltas[l], &r_bp.deltas[l]),
                );
                if let Some(inv) = &back.inversions[l] {
                    log.push(step, "di_steps", l + 1, inv.steps as f64);
                    log.push(step, "di_residual", l + 1, inv.residual);
                    log.push(step, "di_euler", l + 1, simulated(inv.solved_by));
                }
            }
            if let Some((steps, residual, solver)) = back.chain {
                log.push(step, "di_steps", 0, steps as f64);
                log.push(step, "di_residual", 0, residual);
                log.push(step, "di_euler", 0, simulated(solver));
            }
        }

        s.update.cap_hidden(&mut back.deltas);
        s.update.apply(&mut s.net, &trace, &back.deltas);

        if s.schedule.due(step, s.order.len()) {
            let sse = s.eval.sse(&s.net);
            if !sse.is_finite() {
                return Err(fail(
                    step,
                    &format!("training diverged (training-set error is {sse}); lower the learning rate or cap the error norm"),
                ));
            }
            log.push(step, "sse", 0, sse);
        }

        // Only DI and SDI simulate the dynamics, so only they need them stable (as in
        // the authors' code); NDI's closed form is computed whatever the spectrum.
        if s.restabilise {
            for e in s
                .credit
                .restabilise(&s.net, &mut s.feedback, &s.ssa, SsaSystem::Full)
                .map_err(|e| fail(step, &e))?
            {
                events.push(StabilisationEvent {
                    step,
                    layer: e.layer,
                    abscissa_before: e.abscissa_before,
                    abscissa_after: e.abscissa_after,
                    iterations: e.iterations,
                });
            }
        }
        record_state(&s, step, &mut log).map_err(|e| fail(step, &e))?;
        save(&s, step);
        progress(1);
    }
    Ok(TrainOutput {
        log,
        events,
        net: s.net,
        feedback: s.feedback,
        checkpoints,
    })
}

/// 1 when an inversion was produced by Euler simulation (no steady state found, or
/// Euler configured), 0 for the Newton steady state.
fn simulated(solver: dinv_core::Solver) -> f64 {
    match solver {
        dinv_core::Solver::Euler | dinv_core::Solver::PoweredEuler => 1.0,
        _ => 0.0,
    }
}

/// Stability of every simulated system and feedback alignment (`B_l` vs `−W_l^T`;
/// for SDI the loop matrix vs `−(W_L ⋯ W_2)^T`, recorded as layer 0).
fn record_state(
    s: &TrainSetup<'_>,
    step: usize,
    log: &mut MetricLog,
) -> Result<(), dinv_core::CoreError> {
    match s.credit.method {
        Method::Bp | Method::Pbp | Method::SignSymmetry | Method::Dfa => return Ok(()),
        Method::Sdi => {
            let forward: Vec<_> = s.net.layers[1..].iter().map(|l| l.w.as_ref()).collect();
            let reference = loop_neg_transpose(&forward);
            log.push(
                step,
                "b_angle_deg",
                0,
                matrix_angle_deg(s.feedback.get_loop()?, reference.as_ref()),
            );
        }
        Method::Fa | Method::Ndi | Method::Di => {
            for i in 1..s.net.depth() {
                let b = s.feedback.get(i)?;
                log.push(
                    step,
                    "b_angle_deg",
                    i + 1,
                    feedback_alignment_deg(b, s.net.layers[i].w.as_ref()),
                );
            }
        }
    }
    for (layer, a) in s.credit.abscissae(&s.net, &s.feedback)? {
        log.push(step, "abscissa", layer, a);
    }
    Ok(())
}
