//! The learning rule of Eq. (2), `ΔW_l = −η δ_l h_{l-1}^T` (biases: `−η δ_l`), with
//! weight decay, the error-norm cap of supp. 7.5.1 and fixed-norm updates (Fig. 3b).

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::net::{Network, Trace};
use crate::vecops::norm;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    pub learning_rate: f64,
    #[serde(default)]
    pub weight_decay: f64,
    /// Hidden error signals are rescaled to at most this norm before the update
    /// (‖δ‖ ≤ 10 for linear, ≤ 1 for nonlinear regression). The output error is
    /// never capped, and the cap does not feed back into propagation.
    #[serde(default)]
    pub delta_cap: Option<f64>,
    /// Normalise each layer's update to Frobenius norm `learning_rate` (Fig. 3b).
    #[serde(default)]
    pub fixed_norm: bool,
}

impl UpdateRule {
    pub fn sgd(learning_rate: f64) -> Self {
        UpdateRule {
            learning_rate,
            weight_decay: 0.0,
            delta_cap: None,
            fixed_norm: false,
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
        let decay = 1.0 - self.learning_rate * self.weight_decay;
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
