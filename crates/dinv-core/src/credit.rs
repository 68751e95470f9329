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
//! | DI  | the steady state of the feedback-control dynamics (Alg. 1, 2), see [`crate::dynamics`], [`crate::chain`] |
//! | SDI | one loop from the output to the first hidden layer (Alg. 3), see [`crate::chain`] |
//! | SS  | `sign(W_l)^T` (sign symmetry, Liao, Leibo & Poggio 2016; beyond the paper) |
//!
//! DFA (direct feedback alignment, Nøkland 2016; beyond the paper) skips the recursion:
//! every hidden layer gets the output error through its own fixed matrix,
//! `δ_l = D_l δ_L ∘ g'(a_l)` ([`Feedback::direct`]).

use faer::{Mat, MatRef};

use crate::activation::Activation;
use crate::chain::{ChainInversion, ChainLayer, RepeatLayer, SingleLoop};
use crate::dynamics::{
    unstable_at_rest, unstable_fixed_point, Dynamics, Integration, Inversion, LayerSystem, Solver,
};
use crate::error::{CoreError, Result};
use crate::expanding::ExpandingSystem;
use crate::inverse::{check_feedback_shape, min_norm_lstsq, ndi_apply, ndi_inverse, pinv_apply};
use crate::kernels::vecops::{matvec, matvec_t};
use crate::net::{Network, Trace};
use crate::stability::{
    expanding_abscissa, spectral_abscissa, ssa_stabilise, ssa_stabilise_expanding,
    ssa_stabilise_reduced, SsaConfig, SsaOutcome,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Method {
    /// Backpropagation.
    Bp,
    /// Feedback alignment.
    Fa,
    /// Pseudobackprop.
    Pbp,
    /// Non-dynamic inversion (closed form of the DI steady state).
    Ndi,
    /// Dynamic inversion, layer by layer (sequential, Alg. 1, Fig. 2A) or all layers at
    /// once (repeat layer, Alg. 2, Fig. 2B); see [`DiSettings::chain`].
    Di,
    /// Single-loop dynamic inversion (Alg. 3, Fig. 2C).
    Sdi,
    /// Sign symmetry (Liao, Leibo & Poggio 2016): `M_l = sign(W_l)^T`, the signs of the
    /// transpose without its magnitudes. Beyond the paper.
    SignSymmetry,
    /// Direct feedback alignment (Nøkland 2016): `δ_l = D_l δ_L ∘ g'(a_l)` for every
    /// hidden layer, each with its own fixed `D_l` ([`Feedback::direct`]). Beyond the
    /// paper.
    Dfa,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Bp => "BP",
            Method::Fa => "FA",
            Method::Pbp => "PBP",
            Method::Ndi => "NDI",
            Method::Di => "DI",
            Method::Sdi => "SDI",
            Method::SignSymmetry => "SS",
            Method::Dfa => "DFA",
        }
    }

    /// Whether the method reads feedback matrices (`B_l`, or DFA's `D_l`).
    pub fn uses_feedback(self) -> bool {
        matches!(
            self,
            Method::Fa | Method::Ndi | Method::Di | Method::Sdi | Method::Dfa
        )
    }

    /// Whether the method simulates feedback-control dynamics.
    pub fn is_dynamic(self) -> bool {
        matches!(self, Method::Di | Method::Sdi)
    }
}

/// How DI chains the inversions of several layers (section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Chain {
    /// One layer at a time, from the output down (Alg. 1, Fig. 2A).
    #[default]
    Sequential,
    /// All layers simultaneously, each controller targeting the settling state above
    /// (Alg. 2, Fig. 2B).
    RepeatLayer,
}

/// Which controller inverts a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Controller {
    /// Leaky integral control, Eqs. (5) and (8)/(14).
    #[default]
    Standard,
    /// The architecture of supp. 7.1 (Eqs. S1–S2) on every layer.
    Expanding,
    /// S1–S2 on expanding layers (`d_l > d_{l-1}`), the standard controller elsewhere.
    Auto,
}

/// How DI simulates its dynamics.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct DiSettings {
    pub dynamics: Dynamics,
    #[cfg_attr(feature = "serde", serde(default))]
    pub solver: Solver,
    #[cfg_attr(feature = "serde", serde(default))]
    pub integration: Integration,
    #[cfg_attr(feature = "serde", serde(default))]
    pub chain: Chain,
    #[cfg_attr(feature = "serde", serde(default))]
    pub controller: Controller,
    /// Multiply the steady state by `g'(a_{l-1})` afterwards, as Eq. (3) does, also for
    /// nonlinear or linearised dynamics (linear dynamics always do). Off by default:
    /// Eq. (14)'s error signal is the steady state itself. Sequential DI only; it
    /// separates the gating from the rest of the nonlinear inversion.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "std::ops::Not::not")
    )]
    pub gprime_after: bool,
}

impl Default for DiSettings {
    fn default() -> Self {
        DiSettings {
            dynamics: Dynamics::Linear,
            solver: Solver::Euler,
            integration: Integration::default(),
            chain: Chain::Sequential,
            controller: Controller::Standard,
            gprime_after: false,
        }
    }
}

impl DiSettings {
    /// Whether `g'(a_{l-1})` multiplies the steady state: always for linear dynamics,
    /// and for the others when [`DiSettings::gprime_after`] asks for it.
    pub fn gates_steady_state(&self) -> bool {
        self.dynamics == Dynamics::Linear || self.gprime_after
    }

    /// `gprime_after` is meaningful for sequential DI with nonlinear or linearised
    /// dynamics only; elsewhere it would be silently ignored, so it is an error.
    pub fn check_gprime_after(&self, method: Method) -> Result<(), String> {
        if !self.gprime_after {
            return Ok(());
        }
        if method != Method::Di || self.chain != Chain::Sequential {
            return Err("`gprime_after` applies to sequential DI only".into());
        }
        if self.dynamics == Dynamics::Linear {
            return Err(
                "`gprime_after` has no effect with linear dynamics, which apply g' afterwards already"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether layer `W` (d_l × d_{l-1}) is inverted by the S1–S2 controller.
    pub fn expanding_controller(&self, w: MatRef<'_, f64>) -> bool {
        match self.controller {
            Controller::Standard => false,
            Controller::Expanding => true,
            Controller::Auto => w.nrows() > w.ncols(),
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
    /// SDI's loop matrix from the output controller to the first hidden layer
    /// (`d_1 × d_L`).
    pub loop_b: Option<Mat<f64>>,
    /// DFA: `direct[i]` carries the output error to the output of `layers[i]` (`D_{i+1}`,
    /// `d_{i+1} × d_L`) for every hidden layer; empty for the other methods.
    pub direct: Vec<Option<Mat<f64>>>,
}

impl Feedback {
    pub fn none(depth: usize) -> Self {
        Feedback {
            b: vec![None; depth],
            loop_b: None,
            direct: Vec::new(),
        }
    }

    /// DFA's `D` for the output of `layers[i]`, or an error naming the layer.
    pub fn get_direct(&self, i: usize) -> Result<MatRef<'_, f64>> {
        entry(&self.direct, i).ok_or_else(|| {
            CoreError::Feedback(format!(
                "no direct feedback matrix D_{l} (d_{l} x d_L) for hidden layer {l}",
                l = i + 1
            ))
        })
    }

    /// The single-loop matrix, or an error.
    pub fn get_loop(&self) -> Result<MatRef<'_, f64>> {
        self.loop_b.as_ref().map(Mat::as_ref).ok_or_else(|| {
            CoreError::Feedback("single-loop DI needs a loop feedback matrix B (d_1 x d_L)".into())
        })
    }

    /// `B` for `layers[i]`, or an error naming the layer.
    pub fn get(&self, i: usize) -> Result<MatRef<'_, f64>> {
        entry(&self.b, i).ok_or_else(|| missing_feedback(i + 1))
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
    /// Steps, relative residual and solver of a whole-network simulation (repeat
    /// layer, SDI).
    pub chain: Option<(usize, f64, Solver)>,
}

/// One SSA re-stabilisation of a feedback matrix. `layer` is `l` of `B_l`, or 0 for
/// SDI's loop matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Restabilisation {
    pub layer: usize,
    pub abscissa_before: f64,
    pub abscissa_after: f64,
    pub iterations: usize,
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
    pub fn backward(
        &self,
        net: &Network,
        trace: &Trace,
        fb: &Feedback,
        delta_out: &[f64],
    ) -> Result<Backward> {
        let depth = net.depth();
        if delta_out.len() != net.layers[depth - 1].d_out() {
            return Err(CoreError::shape(
                "output error δ_L",
                net.layers[depth - 1].d_out(),
                delta_out.len(),
            ));
        }
        let mut deltas = vec![Vec::new(); depth];
        let mut inversions = vec![None; depth];
        deltas[depth - 1] = delta_out.to_vec();
        if self.method == Method::Dfa {
            for (i, d) in deltas[..depth - 1].iter_mut().enumerate() {
                *d = direct_error(fb.get_direct(i)?, delta_out, &trace.gprime[i], i + 1)?;
            }
            return Ok(Backward {
                deltas,
                inversions,
                chain: None,
            });
        }
        let whole = match self.method {
            Method::Sdi => Some(
                self.single_loop(net, trace, fb, delta_out)?
                    .invert(self.di.solver, &self.di.integration)?,
            ),
            Method::Di if self.di.chain == Chain::RepeatLayer && depth > 1 => Some(
                self.repeat_layer(net, trace, fb, delta_out)?
                    .invert(self.di.solver, &self.di.integration)?,
            ),
            _ => None,
        };
        if let Some(inv) = whole {
            self.verify_chain(net, trace, fb, &inv)?;
            for (i, d) in inv.deltas.into_iter().enumerate() {
                if d.iter().any(|v| !v.is_finite()) {
                    return Err(CoreError::NonFinite {
                        what: format!(
                            "{} error signal δ_{} (layer {})",
                            self.method.name(),
                            i + 1,
                            i + 1
                        ),
                    });
                }
                deltas[i] = d;
            }
            return Ok(Backward {
                deltas,
                inversions,
                chain: Some((inv.steps, inv.residual, inv.solved_by)),
            });
        }
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
        Ok(Backward {
            deltas,
            inversions,
            chain: None,
        })
    }

    fn chain_layer<'a>(net: &'a Network, trace: &'a Trace, i: usize) -> ChainLayer<'a> {
        ChainLayer {
            w: net.layers[i].w.as_ref(),
            act_below: net.layers[i - 1].act,
            gprime_below: &trace.gprime[i - 1],
        }
    }

    fn repeat_layer<'a>(
        &self,
        net: &'a Network,
        trace: &'a Trace,
        fb: &'a Feedback,
        target: &'a [f64],
    ) -> Result<RepeatLayer<'a>> {
        if self.di.controller != Controller::Standard {
            return Err(CoreError::Feedback(
                "repeat-layer DI supports only the standard controller".into(),
            ));
        }
        let idx: Vec<usize> = (1..net.depth()).rev().collect();
        Ok(RepeatLayer {
            layers: idx
                .iter()
                .map(|&i| Self::chain_layer(net, trace, i))
                .collect(),
            feedback: idx.iter().map(|&i| fb.get(i)).collect::<Result<_>>()?,
            alpha: self.alpha,
            dynamics: self.di.dynamics,
            target,
        })
    }

    fn single_loop<'a>(
        &self,
        net: &'a Network,
        trace: &'a Trace,
        fb: &'a Feedback,
        target: &'a [f64],
    ) -> Result<SingleLoop<'a>> {
        if net.depth() < 3 {
            return Err(CoreError::Feedback(format!(
                "single-loop DI (SDI) needs at least two hidden layers; this network has {}",
                net.depth() - 1
            )));
        }
        Ok(SingleLoop {
            layers: (1..net.depth())
                .map(|i| Self::chain_layer(net, trace, i))
                .collect(),
            b: fb.get_loop()?,
            alpha: self.alpha,
            dynamics: self.di.dynamics,
            target,
        })
    }

    /// Spectral abscissa of every feedback-control system this rule runs: `(l, value)`
    /// for each `B_l` (NDI: the system it solves in closed form), `(0, value)` for SDI's
    /// loop (linearised at the origin). Empty for BP, FA and PBP.
    pub fn abscissae(&self, net: &Network, fb: &Feedback) -> Result<Vec<(usize, f64)>> {
        match self.method {
            Method::Bp | Method::Fa | Method::Pbp | Method::SignSymmetry | Method::Dfa => {
                Ok(Vec::new())
            }
            Method::Sdi => {
                let trace = Trace {
                    gprime: net.layers.iter().map(|l| vec![1.0; l.d_out()]).collect(),
                    ..Trace::default()
                };
                let sl = self.single_loop(net, &trace, fb, &[])?;
                Ok(vec![(0, sl.abscissa()?)])
            }
            Method::Ndi | Method::Di => (1..net.depth())
                .map(|i| {
                    let (w, b) = (net.layers[i].w.as_ref(), fb.get(i)?);
                    let a = if self.method == Method::Di && self.di.expanding_controller(w) {
                        expanding_abscissa(w, b, self.alpha)?
                    } else {
                        spectral_abscissa(w, b, self.alpha)?
                    };
                    Ok((i + 1, a))
                })
                .collect(),
        }
    }

    /// Runs SSA on every simulated system whose spectral abscissa is positive
    /// (supp. 7.5.1). Only DI and SDI simulate dynamics, so only they are touched. Each
    /// layer goes through [`Credit::restabilise_layer`] with `system`; SDI's loop is
    /// always descended on its full system.
    pub fn restabilise(
        &self,
        net: &Network,
        fb: &mut Feedback,
        cfg: &SsaConfig,
        system: SsaSystem,
    ) -> Result<Vec<Restabilisation>> {
        let mut events = Vec::new();
        let event = |layer: usize, out: &SsaOutcome| Restabilisation {
            layer,
            abscissa_before: out.abscissa_before,
            abscissa_after: out.abscissa_after,
            iterations: out.iterations,
        };
        match self.method {
            Method::Sdi => {
                let trace = Trace {
                    gprime: net.layers.iter().map(|l| vec![1.0; l.d_out()]).collect(),
                    ..Trace::default()
                };
                let sl = self.single_loop(net, &trace, fb, &[])?;
                if sl.abscissa()? > 0.0 {
                    let offset = sl.b_block();
                    let system = |b: MatRef<'_, f64>| Ok(sl.with_b(b).system_matrix_unchecked());
                    let abscissa = |b: MatRef<'_, f64>| sl.with_b(b).abscissa();
                    let out =
                        crate::stability::ssa_optimise(sl.b, &system, offset, &abscissa, cfg, 0)?;
                    events.push(event(0, &out));
                    fb.loop_b = Some(out.b);
                }
            }
            Method::Di => {
                for i in 1..net.depth() {
                    let (w, b) = (net.layers[i].w.as_ref(), fb.get(i)?);
                    let (_, out) = self.restabilise_layer(w, b, i + 1, cfg, system)?;
                    if let Some(out) = out {
                        events.push(event(i + 1, &out));
                        fb.b[i] = Some(out.b);
                    }
                }
            }
            Method::Bp
            | Method::Fa
            | Method::Pbp
            | Method::Ndi
            | Method::SignSymmetry
            | Method::Dfa => {}
        }
        Ok(events)
    }

    /// The spectral abscissa of the system DI simulates for one layer (at rest): Eq.
    /// (S9), or the S1–S2 controller's when this rule uses it for `W`.
    pub fn layer_abscissa(&self, w: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<f64> {
        if self.di.expanding_controller(w) {
            expanding_abscissa(w, b, self.alpha)
        } else {
            spectral_abscissa(w, b, self.alpha)
        }
    }

    /// The re-stabilisation policy for one layer's feedback `B_l` (supp. 7.5.1): the
    /// spectral abscissa of the system DI simulates (Eq. S9, or the S1–S2 controller's),
    /// and, when it is positive, SSA descent on `B_l` until it is below `−margin`.
    /// Returns the abscissa before any intervention and the SSA run if there was one
    /// (its `b` is the new `B_l`). The S1–S2 controller is always descended on its
    /// full system.
    pub fn restabilise_layer(
        &self,
        w: MatRef<'_, f64>,
        b: MatRef<'_, f64>,
        layer: usize,
        cfg: &SsaConfig,
        system: SsaSystem,
    ) -> Result<(f64, Option<SsaOutcome>)> {
        let expanding = self.di.expanding_controller(w);
        let abscissa = self.layer_abscissa(w, b)?;
        if abscissa <= 0.0 {
            return Ok((abscissa, None));
        }
        let out = match system {
            _ if expanding => ssa_stabilise_expanding(w, b, self.alpha, cfg, layer)?,
            SsaSystem::Full => ssa_stabilise(w, b, self.alpha, cfg, layer)?,
            SsaSystem::Reduced => ssa_stabilise_reduced(w, b, self.alpha, cfg, layer)?,
        };
        Ok((abscissa, Some(out)))
    }

    /// Refuses the result of the S1–S2 controller when its dynamics are unstable at
    /// rest, or when the pure steady-state solver returned a fixed point they leave: the
    /// checks [`LayerSystem::invert`] makes for the standard controller (not its Euler
    /// step check).
    fn verify_expanding(
        &self,
        sys: &ExpandingSystem<'_>,
        inv: &Inversion,
        layer: usize,
    ) -> Result<()> {
        let layer_system = LayerSystem {
            w: sys.w,
            b: sys.b,
            alpha: sys.alpha,
            dynamics: sys.dynamics,
            act: sys.act,
            gprime: sys.gprime,
        };
        let abscissa_at = |slope: &[f64]| {
            if slope.iter().all(|&s| s == 1.0) {
                expanding_abscissa(sys.w, sys.b, sys.alpha)
            } else {
                let wd = crate::kernels::vecops::scale_columns(sys.w, slope);
                expanding_abscissa(wd.as_ref(), sys.b, sys.alpha)
            }
        };
        let refuse = |abscissa: f64, reason: String| CoreError::UnstableDynamics {
            layer,
            system: format!(
                "S1-S2 controller of a {}x{} layer, alpha = {}, {} dynamics, solver {}",
                sys.w.nrows(),
                sys.w.ncols(),
                sys.alpha,
                sys.dynamics.name(),
                self.di.solver.name()
            ),
            abscissa,
            residual: inv.residual,
            reason,
        };
        let rest = abscissa_at(&layer_system.readout_slopes(&vec![0.0; sys.w.ncols()]))?;
        if rest > 0.0 {
            return Err(refuse(rest, unstable_at_rest(rest)));
        }
        if self.di.solver == Solver::SteadyState && sys.dynamics == Dynamics::Nonlinear {
            let at = abscissa_at(&layer_system.readout_slopes(&inv.delta))?;
            if at > 0.0 {
                return Err(refuse(at, unstable_fixed_point(at)));
            }
        }
        Ok(())
    }

    /// Refuses a whole-network inversion (repeat layer, SDI) whose dynamics are unstable
    /// at rest, or, from the pure steady-state solver, a fixed point they leave. The
    /// repeat-layer system is block-triangular (each controller sees only the layer
    /// above), so it is stable exactly when every layer's system is; SDI's loop is
    /// judged as a whole.
    fn verify_chain(
        &self,
        net: &Network,
        trace: &Trace,
        fb: &Feedback,
        inv: &ChainInversion,
    ) -> Result<()> {
        let solver = self.di.solver;
        let fixed_point = solver == Solver::SteadyState && self.di.dynamics == Dynamics::Nonlinear;
        let refuse = |layer: usize, system: String, abscissa: f64, reason: String| {
            CoreError::UnstableDynamics {
                layer,
                system: format!("{system}, solver {}", solver.name()),
                abscissa,
                residual: inv.residual,
                reason,
            }
        };
        if self.method == Method::Sdi {
            let sl = self.single_loop(net, trace, fb, &[])?;
            let system = format!(
                "single loop of SDI, alpha = {}, {} dynamics",
                self.alpha,
                self.di.dynamics.name()
            );
            let rest = sl.abscissa()?;
            if rest > 0.0 {
                return Err(refuse(0, system, rest, unstable_at_rest(rest)));
            }
            if fixed_point {
                // The hidden states are the error signals (no g' gating for nonlinear
                // dynamics); `stable_at` reads nothing of `u`.
                let mut x = inv.deltas.concat();
                x.extend(std::iter::repeat_n(
                    0.0,
                    net.layers[net.depth() - 1].d_out(),
                ));
                if !sl.stable_at(&x)? {
                    return Err(refuse(
                        0,
                        system,
                        f64::NAN,
                        "the fixed point Newton found is unstable: the dynamics never settle on \
                         it; steady_state_or_euler simulates them instead"
                            .into(),
                    ));
                }
            }
            return Ok(());
        }
        for i in 1..net.depth() {
            let sys = LayerSystem {
                w: net.layers[i].w.as_ref(),
                b: fb.get(i)?,
                alpha: self.alpha,
                dynamics: self.di.dynamics,
                act: net.layers[i - 1].act,
                gprime: &trace.gprime[i - 1],
            };
            let system = format!(
                "repeat-layer DI, a {}x{} layer, alpha = {}, {} dynamics",
                sys.w.nrows(),
                sys.w.ncols(),
                self.alpha,
                self.di.dynamics.name()
            );
            let rest = sys.rest_abscissa()?;
            if rest > 0.0 {
                return Err(refuse(i + 1, system, rest, unstable_at_rest(rest)));
            }
            if fixed_point {
                let at = sys.abscissa_at(&inv.deltas[i - 1])?;
                if at > 0.0 {
                    return Err(refuse(i + 1, system, at, unstable_fixed_point(at)));
                }
            }
        }
        Ok(())
    }

    /// One step of Eq. (3): `δ_i` (error at `a_i`) from `δ_{i+1}` through `layers[i]`,
    /// PBP and NDI solved by the SVD ([`ClosedForm::Svd`]).
    pub fn propagate(
        &self,
        net: &Network,
        trace: &Trace,
        fb: &Feedback,
        i: usize,
        delta: &[f64],
    ) -> Result<(Vec<f64>, Option<Inversion>)> {
        let link = LayerLink {
            w: net.layers[i].w.as_ref(),
            b: fb.b.get(i).and_then(Option::as_ref).map(Mat::as_ref),
            layer: i + 1,
            act_below: net.layers[i - 1].act,
            gprime_below: &trace.gprime[i - 1],
        };
        self.propagate_layer(&link, delta, ClosedForm::Svd)
    }

    /// Eq. (3) for one layer, `δ_{l-1} = M_l δ_l ∘ g'(a_{l-1})`, with `M_l` of the
    /// method (Eq. 4, Eq. 10, Alg. 1 and 4): the one place where the methods differ for
    /// a single example. Returns DI's record when DI ran. `closed_form` says how PBP and
    /// NDI solve their linear systems.
    pub fn propagate_layer(
        &self,
        link: &LayerLink<'_>,
        delta: &[f64],
        closed_form: ClosedForm,
    ) -> Result<(Vec<f64>, Option<Inversion>)> {
        let (w, gprime) = (link.w, link.gprime_below);
        let feedback = || link.b.ok_or_else(|| missing_feedback(link.layer));
        let column = || Mat::from_fn(delta.len(), 1, |r, _| delta[r]);
        let mut out = vec![0.0; w.ncols()];
        let mut record = None;
        let apply_gprime = match self.method {
            Method::Bp => {
                matvec_t(w, delta, &mut out);
                true
            }
            Method::Fa => {
                let b = feedback()?;
                check_feedback_shape(w, b)?;
                matvec(b, delta, &mut out);
                true
            }
            Method::Pbp => {
                out = match closed_form {
                    ClosedForm::Svd => min_norm_lstsq(w, delta)?,
                    ClosedForm::Factored => {
                        pinv_apply(w, column().as_ref())?.col_as_slice(0).to_vec()
                    }
                };
                true
            }
            Method::Ndi => {
                out = match closed_form {
                    ClosedForm::Svd => ndi_inverse(w, feedback()?, self.alpha, delta)?,
                    ClosedForm::Factored => {
                        ndi_apply(w, feedback()?, self.alpha, column().as_ref())?
                            .col_as_slice(0)
                            .to_vec()
                    }
                };
                true
            }
            Method::SignSymmetry => {
                matvec_t(sign_of(w).as_ref(), delta, &mut out);
                true
            }
            Method::Sdi => {
                return Err(CoreError::Feedback(
                    "SDI inverts the whole network at once, not layer by layer".into(),
                ));
            }
            Method::Dfa => {
                return Err(CoreError::Feedback(
                    "DFA sends the output error to every hidden layer directly, not layer by \
                     layer"
                        .into(),
                ));
            }
            Method::Di if self.di.expanding_controller(w) => {
                let system = ExpandingSystem {
                    w,
                    b: feedback()?,
                    alpha: self.alpha,
                    dynamics: self.di.dynamics,
                    act: link.act_below,
                    gprime,
                };
                let inv = system.invert(delta, self.di.solver, &self.di.integration)?;
                self.verify_expanding(&system, &inv, link.layer)?;
                out.copy_from_slice(&inv.delta);
                record = Some(inv);
                self.di.gates_steady_state()
            }
            Method::Di => {
                let system = LayerSystem {
                    w,
                    b: feedback()?,
                    alpha: self.alpha,
                    dynamics: self.di.dynamics,
                    act: link.act_below,
                    gprime,
                };
                let inv = system
                    .invert(delta, self.di.solver, &self.di.integration)
                    .map_err(|e| e.at_layer(link.layer))?;
                out.copy_from_slice(&inv.delta);
                record = Some(inv);
                self.di.gates_steady_state()
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

/// One layer as the backward pass sees it: `W_l`, its feedback `B_l` if any, and the
/// layer below's activation and slopes `g'(a_{l-1})`.
#[derive(Clone, Copy, Debug)]
pub struct LayerLink<'a> {
    pub w: MatRef<'a, f64>,
    pub b: Option<MatRef<'a, f64>>,
    /// `l` of `W_l` (1-based), for error messages.
    pub layer: usize,
    pub act_below: Activation,
    pub gprime_below: &'a [f64],
}

/// How PBP's pseudoinverse (Eq. 4) and NDI's closed form (Eq. 10) are solved for one
/// example. Both give the same vector up to rounding; they differ in bits and cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedForm {
    /// Least squares by the SVD of `W` or of the shifted product, as numpy's `lstsq`
    /// in the authors' code (the regressions).
    Svd,
    /// Cholesky of the smaller Gram matrix (PBP) or LU of the shifted product (NDI),
    /// with the SVD as the fallback when either is ill-conditioned
    /// ([`pinv_apply`], [`ndi_apply`]): a 10 × 10 factorisation per example instead of
    /// the SVD of MNIST's 10 × 1000 read-out.
    Factored,
}

/// Which system SSA descends on when it re-stabilises a layer (supp. 7.3). Both
/// enforce the same constraint, Eq. (S9)'s spectral abscissa below `−margin`; they
/// smooth it differently, so they reach different `B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsaSystem {
    /// The full `(d_l + d_{l-1})`-dimensional block system of Eq. (S9) (the
    /// regressions).
    Full,
    /// The reduced `2·min(d_l, d_{l-1})` system of
    /// [`ssa_stabilise_reduced`](crate::stability::ssa_stabilise_reduced), which makes
    /// SSA affordable on MNIST's 10 × 1000 read-out.
    Reduced,
}

/// `sign(W)` entry by entry (0 stays 0), the forward weights sign symmetry sends back
/// through.
pub fn sign_of(w: MatRef<'_, f64>) -> Mat<f64> {
    Mat::from_fn(w.nrows(), w.ncols(), |i, j| {
        let v = w[(i, j)];
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    })
}

/// DFA's error for hidden layer `layer` (1-based): `D δ_L ∘ g'(a_layer)`.
fn direct_error(
    d: MatRef<'_, f64>,
    delta_out: &[f64],
    gprime: &[f64],
    layer: usize,
) -> Result<Vec<f64>> {
    if d.ncols() != delta_out.len() || d.nrows() != gprime.len() {
        return Err(CoreError::shape(
            format!("direct feedback matrix D_{layer} (d_{layer} x d_L)"),
            format!("{}x{}", gprime.len(), delta_out.len()),
            format!("{}x{}", d.nrows(), d.ncols()),
        ));
    }
    let mut out = vec![0.0; d.nrows()];
    matvec(d, delta_out, &mut out);
    for (o, g) in out.iter_mut().zip(gprime) {
        *o *= g;
    }
    Ok(out)
}

/// The matrix at `i` of a per-layer list, if there is one.
fn entry(list: &[Option<Mat<f64>>], i: usize) -> Option<MatRef<'_, f64>> {
    list.get(i).and_then(Option::as_ref).map(Mat::as_ref)
}

/// The error for a method that needs `B_layer` and has none.
fn missing_feedback(layer: usize) -> CoreError {
    CoreError::Feedback(format!("no feedback matrix B_{layer} for layer {layer}"))
}
