//! Online training of one model on a regression task, with the per-step
//! measurements of Fig. 3 (no I/O: the stage wrapper in `stages.rs` does that).

use dinv_core::metrics::{angle_deg, feedback_alignment_deg};
use dinv_core::stability::{spectral_abscissa, ssa_stabilise};
use dinv_core::vecops::mul;
use dinv_core::{Credit, Feedback, Loss, Method, Network, SsaConfig, Trace, UpdateRule};
use dinv_data::synthetic::RegressionData;
use faer::Mat;

/// Metric rows in long format: `(step, metric, layer, value)`. `layer` follows the
/// paper: `l` for `W_l`/`B_l`/`δ_l`, 0 for whole-network quantities.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricLog {
    pub step: Vec<i64>,
    pub metric: Vec<&'static str>,
    pub layer: Vec<i64>,
    pub value: Vec<f64>,
}

impl MetricLog {
    pub fn push(&mut self, step: usize, metric: &'static str, layer: usize, value: f64) {
        self.step.push(step as i64);
        self.metric.push(metric);
        self.layer.push(layer as i64);
        self.value.push(value);
    }

    pub fn len(&self) -> usize {
        self.step.len()
    }

    pub fn is_empty(&self) -> bool {
        self.step.is_empty()
    }

    /// Values of one metric and layer, in step order.
    pub fn series(&self, metric: &str, layer: usize) -> Vec<(i64, f64)> {
        (0..self.len())
            .filter(|&k| self.metric[k] == metric && self.layer[k] == layer as i64)
            .map(|k| (self.step[k], self.value[k]))
            .collect()
    }
}

/// A re-stabilisation of `B_l` during training (supp. 7.5.1).
#[derive(Clone, Debug, PartialEq)]
pub struct StabilisationEvent {
    pub step: usize,
    pub layer: usize,
    pub abscissa_before: f64,
    pub abscissa_after: f64,
    pub iterations: usize,
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
    pub fn for_task(net: &Network, data: &'a RegressionData, linear_teacher: Option<&Mat<f64>>) -> Self {
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
            ErrorEval::Batch(data) => {
                let y = net.predict_batch(data.x.as_ref());
                let mut s = 0.0;
                for j in 0..y.ncols() {
                    for i in 0..y.nrows() {
                        let d = y[(i, j)] - data.t[(i, j)];
                        s += d * d;
                    }
                }
                s
            }
            ErrorEval::LinearTeacher { gram, teacher } => {
                let mut p = net.layers[0].w.clone();
                for l in &net.layers[1..] {
                    p = mul(l.w.as_ref(), p.as_ref());
                }
                let e = &p - teacher;
                let eg = mul(e.as_ref(), gram.as_ref());
                dinv_core::vecops::frobenius_dot(eg.as_ref(), e.as_ref())
            }
        }
    }
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
}

pub struct TrainOutput {
    pub log: MetricLog,
    pub events: Vec<StabilisationEvent>,
    pub net: Network,
    pub feedback: Feedback,
}

/// Whether a method runs feedback-control dynamics whose stability matters.
fn has_dynamics(method: Method) -> bool {
    matches!(method, Method::Ndi | Method::Di)
}

/// Online training: one update per example, in `order`. Step 0 records the initial
/// state, so every model's curve starts from the same error.
pub fn train(mut s: TrainSetup<'_>, mut progress: impl FnMut(u64)) -> Result<TrainOutput, String> {
    let fail = |step: usize, e: &dyn std::fmt::Display| format!("model `{}`, step {step}: {e}", s.name);
    s.update.validate().map_err(|e| fail(0, &e))?;
    s.feedback.check(&s.net).map_err(|e| fail(0, &e))?;
    let mut log = MetricLog::default();
    let mut events = Vec::new();
    let method = s.credit.method;
    let ndi = Credit::new(Method::Ndi, s.credit.alpha);
    let pbp = Credit::new(Method::Pbp, 0.0);
    let bp = Credit::new(Method::Bp, 0.0);

    record_state(&s, 0, &mut log).map_err(|e| fail(0, &e))?;
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

        if method == Method::Di {
            // Compare DI's error signals with the closed forms at the same weights.
            let reference = |c: &Credit| c.backward(&s.net, &trace, &s.feedback, &d_out);
            let r_ndi = reference(&ndi).map_err(|e| fail(step, &e))?;
            let r_pbp = reference(&pbp).map_err(|e| fail(step, &e))?;
            let r_bp = reference(&bp).map_err(|e| fail(step, &e))?;
            for l in 0..back.deltas.len() - 1 {
                log.push(step, "angle_ndi_deg", l + 1, angle_deg(&back.deltas[l], &r_ndi.deltas[l]));
                log.push(step, "angle_pbp_deg", l + 1, angle_deg(&back.deltas[l], &r_pbp.deltas[l]));
                log.push(step, "angle_bp_deg", l + 1, angle_deg(&back.deltas[l], &r_bp.deltas[l]));
                if let Some(inv) = &back.inversions[l] {
                    log.push(step, "di_steps", l + 1, inv.steps as f64);
                    log.push(step, "di_residual", l + 1, inv.residual);
                }
            }
        }

        s.update.cap_hidden(&mut back.deltas);
        s.update.apply(&mut s.net, &trace, &back.deltas);

        let sse = s.eval.sse(&s.net);
        if !sse.is_finite() {
            return Err(fail(
                step,
                &format!("training diverged (training-set error is {sse}); lower the learning rate or cap the error norm"),
            ));
        }
        log.push(step, "sse", 0, sse);

        // Only DI simulates the dynamics, so only DI needs them stable (as in the
        // authors' code); NDI's closed form is computed whatever the spectrum.
        if s.restabilise && method == Method::Di {
            for i in 1..s.net.depth() {
                let w = s.net.layers[i].w.as_ref();
                let b = s.feedback.get(i).map_err(|e| fail(step, &e))?;
                let a = spectral_abscissa(w, b, s.credit.alpha).map_err(|e| fail(step, &e))?;
                if a > 0.0 {
                    let out = ssa_stabilise(w, b, s.credit.alpha, &s.ssa, i + 1).map_err(|e| fail(step, &e))?;
                    events.push(StabilisationEvent {
                        step,
                        layer: i + 1,
                        abscissa_before: out.abscissa_before,
                        abscissa_after: out.abscissa_after,
                        iterations: out.iterations,
                    });
                    s.feedback.b[i] = Some(out.b);
                }
            }
        }
        record_state(&s, step, &mut log).map_err(|e| fail(step, &e))?;
        progress(1);
    }
    Ok(TrainOutput {
        log,
        events,
        net: s.net,
        feedback: s.feedback,
    })
}

/// Stability and feedback alignment of every layer with feedback weights.
fn record_state(s: &TrainSetup<'_>, step: usize, log: &mut MetricLog) -> Result<(), dinv_core::CoreError> {
    if !s.credit.method.uses_feedback() {
        return Ok(());
    }
    for i in 1..s.net.depth() {
        let w = s.net.layers[i].w.as_ref();
        let b = s.feedback.get(i)?;
        log.push(step, "b_angle_deg", i + 1, feedback_alignment_deg(b, w));
        if has_dynamics(s.credit.method) {
            log.push(step, "abscissa", i + 1, spectral_abscissa(w, b, s.credit.alpha)?);
        }
    }
    Ok(())
}
