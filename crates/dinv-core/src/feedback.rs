//! Feedback weight initialisations (section 3.2, supp. 7.5.2): Tr-Init
//! `B = −W(0)^T`, a scaled negative transpose, a fixed random matrix (FA), and
//! R-Init — a random matrix made stable by SSA optimisation.

use faer::{Mat, MatRef};

use crate::error::Result;
use crate::stability::{ssa_stabilise, SsaConfig, SsaOutcome};

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)
)]
pub enum FeedbackInit {
    /// Tr-Init: `B_l = −W_l(0)^T`.
    NegTranspose,
    /// `B_l = −c · W_l(0)^T`.
    ScaledNegTranspose { scale: f64 },
    /// A fixed random matrix `U(−s, s)` (FA uses `s = 0.5`).
    Uniform { half_width: f64 },
    /// R-Init: `U(−s, s)`, then SSA-optimised at leak `ssa_alpha` until stable.
    Stabilised {
        half_width: f64,
        #[cfg_attr(feature = "serde", serde(default))]
        ssa_alpha: f64,
        #[cfg_attr(feature = "serde", serde(default))]
        ssa: SsaConfig,
    },
}

/// `−c W^T`.
pub fn neg_transpose(w: MatRef<'_, f64>, scale: f64) -> Mat<f64> {
    Mat::from_fn(w.ncols(), w.nrows(), |i, j| -scale * w[(j, i)])
}

impl FeedbackInit {
    /// Builds `B_l` for the forward matrix `w`. `random` supplies the random draw for
    /// the random kinds (drawn by the caller from its own seeded stream, so that
    /// several models can share it); the `Stabilised` kind also reports its SSA run.
    pub fn build(
        &self,
        w: MatRef<'_, f64>,
        random: Option<MatRef<'_, f64>>,
        layer: usize,
    ) -> Result<(Mat<f64>, Option<SsaOutcome>)> {
        use crate::error::CoreError;
        let need_random = || {
            random.map(|r| r.to_owned()).ok_or_else(|| {
                CoreError::Feedback(format!(
                    "feedback init {self:?} for layer {layer} needs a random matrix"
                ))
            })
        };
        match self {
            FeedbackInit::NegTranspose => Ok((neg_transpose(w, 1.0), None)),
            FeedbackInit::ScaledNegTranspose { scale } => Ok((neg_transpose(w, *scale), None)),
            FeedbackInit::Uniform { .. } => Ok((need_random()?, None)),
            FeedbackInit::Stabilised { ssa_alpha, ssa, .. } => {
                let b0 = need_random()?;
                let out = ssa_stabilise(w, b0.as_ref(), *ssa_alpha, ssa, layer)?;
                Ok((out.b.clone(), Some(out)))
            }
        }
    }

    /// Half-width of the random draw this kind needs, if any.
    pub fn random_half_width(&self) -> Option<f64> {
        match self {
            FeedbackInit::Uniform { half_width } | FeedbackInit::Stabilised { half_width, .. } => {
                Some(*half_width)
            }
            _ => None,
        }
    }
}
