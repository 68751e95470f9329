//! Credit assignment: turning the output error `δ_L` into every layer's `δ_l`.
//!
//! All methods share the recursion of Eq. (3), `δ_{l-1} = M_l δ_l ∘ g'(a_{l-1})`,
//! and differ in `M_l` (Eq. 4 and Alg. 4):
//!
//! | method | `M_l` |
//! |---|---|
//! | BP  | `W_l^T` |
//! | FA  | `B_l` (fixed random) |
//! | PBP | `W_l^+` (Moore–Penrose) |
//! | NDI | `B_l (W_l B_l − αI)^{-1}` or `(B_l W_l − αI)^{-1} B_l` (Eq. 10) |
//! | DI  | the steady state of the feedback-control dynamics (Alg. 1), see [`crate::dynamics`] |

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::dynamics::{Dynamics, Integration, Inversion, LayerSystem, Solver};
use crate::error::{CoreError, Result};
use crate::inverse::{check_feedback_shape, min_norm_lstsq, ndi_inverse};
use crate::net::{Network, Trace};
use crate::vecops::{matvec, matvec_t};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Backpropagation.
    Bp,
    /// Feedback alignment.
    Fa,
    /// Pseudobackprop.
    Pbp,
    /// Non-dynamic inversion (closed form of the DI steady state).
    Ndi,
    /// Dynamic inversion, sequential backward pass (Alg. 1, Fig. 2A).
    Di,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Bp => "BP",
            Method::Fa => "FA",
            Method::Pbp => "PBP",
            Method::Ndi => "NDI",
            Method::Di => "DI",
        }
    }

    /// Whether the method reads feedback matrices `B_l`.
    pub fn uses_feedback(self) -> bool {
        matches!(self, Method::Fa | Method::Ndi | Method::Di)
    }
}

/// How DI simulates its dynamics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiSettings {
    pub dynamics: Dynamics,
    #[serde(default)]
    pub solver: Solver,
    #[serde(default)]
    pub integration: Integration,
}

impl Default for DiSettings {
    fn default() -> Self {
        DiSettings {
            dynamics: Dynamics::Linear,
            solver: Solver::Euler,
            integration: Integration::default(),
        }
    }
}

/// A credit-assignment rule: the method, the controller leak `α` (NDI, DI) and DI's
/// simulation settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Credit {
    pub method: Method,
    pub alpha: f64,
    pub di: DiSettings,
}

/// Feedback matrices: `b[i]` pairs with `layers[i]` (it is `B_{i+1}`, of the shape of
/// `W_{i+1}^T`); `b[0]` is never used because no error is sent below the input.
#[derive(Clone, Debug, Default)]
pub struct Feedback {
    pub b: Vec<Option<Mat<f64>>>,
}

impl Feedback {
    pub fn none(depth: usize) -> Self {
        Feedback { b: vec![None; depth] }
    }

    /// `B` for `layers[i]`, or an error naming the layer.
    pub fn get(&self, i: usize) -> Result<MatRef<'_, f64>> {
        self.b
            .get(i)
            .and_then(Option::as_ref)
            .map(Mat::as_ref)
            .ok_or_else(|| CoreError::Feedback(format!("no feedback matrix B_{} for layer {}", i + 1, i + 1)))
    }

    /// Checks every present `B_l` against `W_l^T`'s shape.
    pub fn check(&self, net: &Network) -> Result<()> {
        for (i, b) in self.b.iter().enumerate() {
            if let (Some(b), Some(layer)) = (b, net.layers.get(i)) {
                check_feedback_shape(layer.w.as_ref(), b.as_ref()).map_err(|e| {
                    CoreError::Feedback(format!("B_{} does not fit W_{}: {e}", i + 1, i + 1))
                })?;
            }
        }
        Ok(())
    }
}

/// Every layer's error signal, plus DI's per-layer simulation records.
#[derive(Clone, Debug, Default)]
pub struct Backward {
    /// `deltas[i] = δ_{i+1}`; the last entry is the output error.
    pub deltas: Vec<Vec<f64>>,
    /// `inversions[i]`: DI's record for the inversion that produced `deltas[i]`.
    pub inversions: Vec<Option<Inversion>>,
}

impl Credit {
    pub fn new(method: Method, alpha: f64) -> Self {
        Credit {
            method,
            alpha,
            di: DiSettings::default(),
        }
    }

    pub fn with_di(mut self, di: DiSettings) -> Self {
        self.di = di;
        self
    }

    /// Runs the backward pass from the output error `δ_L`.
    pub fn backward(&self, net: &Network, trace: &Trace, fb: &Feedback, delta_out: &[f64]) -> Result<Backward> {
        let depth = net.depth();
        if delta_out.len() != net.layers[depth - 1].d_out() {
            return Err(CoreError::shape("output error δ_L", net.layers[depth - 1].d_out(), delta_out.len()));
        }
        let mut deltas = vec![Vec::new(); depth];
        let mut inversions = vec![None; depth];
        deltas[depth - 1] = delta_out.to_vec();
        for i in (1..depth).rev() {
            let (d, inv) = self.propagate(net, trace, fb, i, &deltas[i])?;
            if d.iter().any(|v| !v.is_finite()) {
                return Err(CoreError::NonFinite {
                    what: format!("{} error signal δ_{} (layer {})", self.method.name(), i, i),
                });
            }
            deltas[i - 1] = d;
            inversions[i - 1] = inv;
        }
        Ok(Backward { deltas, inversions })
    }

    /// One step of Eq. (3): `δ_i` (error at `a_i`) from `δ_{i+1}` through `layers[i]`.
    pub fn propagate(
        &self,
        net: &Network,
        trace: &Trace,
        fb: &Feedback,
        i: usize,
        delta: &[f64],
    ) -> Result<(Vec<f64>, Option<Inversion>)> {
        let w = net.layers[i].w.as_ref();
        let gprime = &trace.gprime[i - 1];
        let mut out = vec![0.0; w.ncols()];
        let mut record = None;
        let apply_gprime = match self.method {
            Method::Bp => {
                matvec_t(w, delta, &mut out);
                true
            }
            Method::Fa => {
                let b = fb.get(i)?;
                check_feedback_shape(w, b)?;
                matvec(b, delta, &mut out);
                true
            }
            Method::Pbp => {
                out = min_norm_lstsq(w, delta)?;
                true
            }
            Method::Ndi => {
                out = ndi_inverse(w, fb.get(i)?, self.alpha, delta)?;
                true
            }
            Method::Di => {
                let system = LayerSystem {
                    w,
                    b: fb.get(i)?,
                    alpha: self.alpha,
                    dynamics: self.di.dynamics,
                    act: net.layers[i - 1].act,
                    gprime,
                };
                let inv = system.invert(delta, self.di.solver, &self.di.integration)?;
                out.copy_from_slice(&inv.delta);
                record = Some(inv);
                self.di.dynamics == Dynamics::Linear
            }
        };
        if apply_gprime {
            for (o, g) in out.iter_mut().zip(gprime) {
                *o *= g;
            }
        }
        Ok((out, record))
    }
}
