//! The learning rule of Eq. (2), `ΔW_l = −η δ_l h_{l-1}^T` (biases: `−η δ_l`), with
//! weight decay, the error-norm cap of supp. 7.5.1 and fixed-norm updates (Fig. 3b).

use crate::error::{CoreError, Result};
use crate::kernels::vecops::norm;
use crate::net::{Network, Trace};

#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct UpdateRule {
    pub learning_rate: f64,
    #[cfg_attr(feature = "serde", serde(default))]
    pub weight_decay: f64,
    /// Hidden error signals are rescaled to at most this norm before the update
    /// (‖δ‖ ≤ 10 for linear, ≤ 1 for nonlinear regression). The output error is
    /// never capped, and the cap does not feed back into propagation.
    #[cfg_attr(feature = "serde", serde(default))]
    pub delta_cap: Option<f64>,
    /// Normalise each layer's update to Frobenius norm `learning_rate` (Fig. 3b).
    #[cfg_attr(feature = "serde", serde(default))]
    pub fixed_norm: bool,
    /// How `weight_decay` enters the update.
    #[cfg_attr(feature = "serde", serde(default))]
    pub decay: DecayMode,
}

/// How weight decay is applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DecayMode {
    /// L2 penalty: `W ← (1 − ηλ) W − η ΔW`.
    #[default]
    Coupled,
    /// Shrink by `λ` per update, independent of `η`: `W ← (1 − λ) W − η ΔW` (the
    /// authors' MNIST code: `W += eta * dW - w_decay * W`).
    PerUpdate,
}

impl UpdateRule {
    pub fn sgd(learning_rate: f64) -> Self {
        UpdateRule {
            learning_rate,
            weight_decay: 0.0,
            delta_cap: None,
            fixed_norm: false,
            decay: DecayMode::Coupled,
        }
    }

    /// The factor every weight is multiplied by in one update.
    pub fn decay_factor(&self) -> f64 {
        match self.decay {
            DecayMode::Coupled => 1.0 - self.learning_rate * self.weight_decay,
            DecayMode::PerUpdate => 1.0 - self.weight_decay,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(CoreError::param(
                "learning_rate",
                self.learning_rate,
                "must be positive and finite",
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(CoreError::param(
                "weight_decay",
                self.weight_decay,
                "must be non-negative",
            ));
        }
        if let Some(c) = self.delta_cap {
            if c.is_nan() || c <= 0.0 {
                return Err(CoreError::param("delta_cap", c, "must be positive"));
            }
        }
        Ok(())
    }

    /// Rescales hidden `δ`s to the cap (in place).
    pub fn cap_hidden(&self, deltas: &mut [Vec<f64>]) {
        if let Some(cap) = self.delta_cap {
            let hidden = deltas.len().saturating_sub(1);
            for d in deltas[..hidden].iter_mut() {
                let n = norm(d);
                if n > cap {
                    let s = cap / n;
                    d.iter_mut().for_each(|v| *v *= s);
                }
            }
        }
    }

    /// Applies one online update from a forward trace and the (already capped) deltas.
    pub fn apply(&self, net: &mut Network, trace: &Trace, deltas: &[Vec<f64>]) {
        let decay = self.decay_factor();
        for (i, delta) in deltas.iter().enumerate() {
            let h_prev = &trace.h[i];
            let scale = if self.fixed_norm {
                let bias = if net.layers[i].b.is_some() { 1.0 } else { 0.0 };
                let n = norm(delta) * (norm(h_prev).powi(2) + bias).sqrt();
                if n == 0.0 {
                    continue;
                }
                -self.learning_rate / n
            } else {
                -self.learning_rate
            };
            net.apply_update(i, decay, scale, delta, h_prev);
        }
    }
}

impl UpdateRule {
    /// One mini-batch update with the summed gradient (supp. 7.5.5):
    /// `W_l ← decay·W_l − η Δ_l H_{l-1}^T`, `b_l ← decay·b_l − η Δ_l 1`, where the
    /// columns of `inputs[l]` are the batch's `h_{l-1}` and of `deltas[l]` its `δ_l`.
    pub fn apply_batch(
        &self,
        net: &mut Network,
        inputs: &[faer::Mat<f64>],
        deltas: &[faer::Mat<f64>],
    ) {
        for (l, layer) in net.layers.iter_mut().enumerate() {
            self.apply_batch_layer(layer, inputs[l].as_ref(), deltas[l].as_ref());
        }
    }

    /// [`UpdateRule::apply_batch`] for one layer, with `h` its inputs `H_{l-1}` and `d`
    /// its error signals `Δ_l`. Layers are independent, so they may run as tasks.
    pub fn apply_batch_layer(
        &self,
        layer: &mut crate::net::Layer,
        h: faer::MatRef<'_, f64>,
        d: faer::MatRef<'_, f64>,
    ) {
        let decay = self.decay_factor();
        crate::kernels::split::decay_and_add_rows(
            layer.w.as_mut(),
            decay,
            d,
            h.transpose(),
            -self.learning_rate,
        );
        if let Some(b) = &mut layer.b {
            // Row sums of Δ, column by column, each in the order of the examples; -0.0
            // is the start `Iterator::sum` uses.
            let mut sums = vec![-0.0; d.nrows()];
            for j in 0..d.ncols() {
                for (s, v) in sums.iter_mut().zip(d.col(j).iter()) {
                    *s += v;
                }
            }
            for (bi, sum) in b.iter_mut().zip(sums) {
                *bi = decay * *bi - self.learning_rate * sum;
            }
        }
    }
}
