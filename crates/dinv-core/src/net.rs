//! Feedforward network of Eq. (1): `h_l = g_l(a_l)`, `a_l = W_l h_{l-1} + b_l`.
//!
//! Indexing: the paper numbers layers `l = 1..L` with `h_0 = x`. Here `layers[i]`
//! holds `W_{i+1}` (shape `d_{i+1} × d_i`), so `Trace::h[i]` is `h_i` and
//! `Trace::a[i]` is `a_{i+1}`. Error vectors follow the pre-activations:
//! `deltas[i] = δ_{i+1}`.

use faer::Mat;

use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::kernels::vecops::{matvec, rank1_update};

#[derive(Clone, Debug)]
pub struct Layer {
    pub w: Mat<f64>,
    /// Bias `b_l`; `None` for networks without bias units (the linear task).
    pub b: Option<Vec<f64>>,
    pub act: Activation,
}

impl Layer {
    pub fn d_in(&self) -> usize {
        self.w.ncols()
    }
    pub fn d_out(&self) -> usize {
        self.w.nrows()
    }
}

#[derive(Clone, Debug)]
pub struct Network {
    pub layers: Vec<Layer>,
}

/// Everything a backward pass needs from the forward pass.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// `h[0] = x`, `h[i] = g(a_i)` for `i = 1..=L`.
    pub h: Vec<Vec<f64>>,
    /// `a[i] = a_{i+1}`, the pre-activations.
    pub a: Vec<Vec<f64>>,
    /// `gprime[i] = g'(a_{i+1})`.
    pub gprime: Vec<Vec<f64>>,
}

impl Trace {
    pub fn output(&self) -> &[f64] {
        self.h.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Training loss on the output layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Loss {
    /// `½‖y − t‖²`, so `δ_L = (y − t) ∘ g'(a_L)`.
    SquaredError,
    /// Softmax of the (linear) output pre-activations with cross-entropy against a
    /// one-hot target: `δ_L = softmax(a_L) − t`.
    SoftmaxCrossEntropy,
}

impl Network {
    /// Checks that consecutive layers fit together.
    pub fn new(layers: Vec<Layer>) -> Result<Self> {
        if layers.is_empty() {
            return Err(CoreError::shape("network", "at least one layer", "none"));
        }
        for (i, pair) in layers.windows(2).enumerate() {
            if pair[1].d_in() != pair[0].d_out() {
                return Err(CoreError::shape(
                    format!("W_{} (input of layer {})", i + 2, i + 2),
                    format!("{} columns (= rows of W_{})", pair[0].d_out(), i + 1),
                    format!("{} columns", pair[1].d_in()),
                ));
            }
        }
        for (i, l) in layers.iter().enumerate() {
            if let Some(b) = &l.b {
                if b.len() != l.d_out() {
                    return Err(CoreError::shape(format!("b_{}", i + 1), l.d_out(), b.len()));
                }
            }
        }
        Ok(Network { layers })
    }

    /// Layer widths `[d_0, d_1, …, d_L]`.
    pub fn dims(&self) -> Vec<usize> {
        let mut d = vec![self.layers[0].d_in()];
        d.extend(self.layers.iter().map(Layer::d_out));
        d
    }

    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Forward pass of one example, Eq. (1), reusing `trace`'s buffers.
    pub fn forward_into(&self, x: &[f64], trace: &mut Trace) {
        let l_count = self.layers.len();
        trace.h.resize_with(l_count + 1, Vec::new);
        trace.a.resize_with(l_count, Vec::new);
        trace.gprime.resize_with(l_count, Vec::new);
        trace.h[0].clear();
        trace.h[0].extend_from_slice(x);
        for (i, layer) in self.layers.iter().enumerate() {
            let (h_prev, h_rest) = trace.h.split_at_mut(i + 1);
            let a = &mut trace.a[i];
            a.resize(layer.d_out(), 0.0);
            matvec(layer.w.as_ref(), &h_prev[i], a);
            if let Some(b) = &layer.b {
                for (ai, bi) in a.iter_mut().zip(b) {
                    *ai += bi;
                }
            }
            let h = &mut h_rest[0];
            h.resize(layer.d_out(), 0.0);
            let gp = &mut trace.gprime[i];
            gp.resize(layer.d_out(), 0.0);
            for k in 0..a.len() {
                h[k] = layer.act.apply(a[k]);
                gp[k] = layer.act.derivative_from_output(h[k]);
            }
        }
    }

    pub fn forward(&self, x: &[f64]) -> Trace {
        let mut t = Trace::default();
        self.forward_into(x, &mut t);
        t
    }

    /// Output `y` only, for evaluation.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let mut t = Trace::default();
        self.forward_into(x, &mut t);
        t.h.pop().unwrap_or_default()
    }

    /// Forward pass of a batch stored as columns of `x` (d_0 × n); returns `y` (d_L × n).
    pub fn predict_batch(&self, x: faer::MatRef<'_, f64>) -> Mat<f64> {
        let mut h = x.to_owned();
        for layer in &self.layers {
            let mut a = crate::kernels::vecops::mul(layer.w.as_ref(), h.as_ref());
            for j in 0..a.ncols() {
                let col = a.col_as_slice_mut(j);
                if let Some(b) = &layer.b {
                    for (ai, bi) in col.iter_mut().zip(b) {
                        *ai += bi;
                    }
                }
                if layer.act != Activation::Linear {
                    for ai in col.iter_mut() {
                        *ai = layer.act.apply(*ai);
                    }
                }
            }
            h = a;
        }
        h
    }

    /// Applies `W_l ← decay·W_l + scale·δ_l h_{l-1}^T` and `b_l ← decay·b_l + scale·δ_l`
    /// for one layer (the outer-product form of Eq. (2)).
    pub fn apply_update(
        &mut self,
        layer: usize,
        decay: f64,
        scale: f64,
        delta: &[f64],
        h_prev: &[f64],
    ) {
        let l = &mut self.layers[layer];
        rank1_update(&mut l.w, decay, scale, delta, h_prev);
        if let Some(b) = &mut l.b {
            for (bi, di) in b.iter_mut().zip(delta) {
                *bi = decay * *bi + scale * di;
            }
        }
    }
}

impl Loss {
    /// Loss value for one example.
    pub fn value(self, trace: &Trace, target: &[f64]) -> f64 {
        match self {
            Loss::SquaredError => {
                0.5 * trace
                    .output()
                    .iter()
                    .zip(target)
                    .map(|(y, t)| (y - t) * (y - t))
                    .sum::<f64>()
            }
            Loss::SoftmaxCrossEntropy => {
                let a = trace.a.last().map(Vec::as_slice).unwrap_or(&[]);
                let lse = log_sum_exp(a);
                -a.iter()
                    .zip(target)
                    .map(|(ai, ti)| ti * (ai - lse))
                    .sum::<f64>()
            }
        }
    }

    /// `δ_L = ∂L/∂a_L`.
    pub fn output_delta(self, trace: &Trace, target: &[f64], delta: &mut Vec<f64>) {
        delta.clear();
        match self {
            Loss::SquaredError => {
                let gp = trace.gprime.last().map(Vec::as_slice).unwrap_or(&[]);
                delta.extend(
                    trace
                        .output()
                        .iter()
                        .zip(target)
                        .zip(gp)
                        .map(|((y, t), g)| (y - t) * g),
                );
            }
            Loss::SoftmaxCrossEntropy => {
                let a = trace.a.last().map(Vec::as_slice).unwrap_or(&[]);
                softmax_into(a, delta);
                for (d, t) in delta.iter_mut().zip(target) {
                    *d -= t;
                }
            }
        }
    }
}

/// `log Σ exp(a_i)`, shifted by the maximum so large logits cannot overflow.
pub fn log_sum_exp(a: &[f64]) -> f64 {
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + a.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// Numerically safe softmax (max-shifted).
pub fn softmax_into(a: &[f64], out: &mut Vec<f64>) {
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    out.clear();
    out.extend(a.iter().map(|x| (x - m).exp()));
    let s: f64 = out.iter().sum();
    for o in out.iter_mut() {
        *o /= s;
    }
}
