//! Seeded synthetic regression data (supp. 7.5.2–7.5.3): inputs `x ~ N(0, I)` and
//! targets from a teacher — a random linear map `t = T x` or a random network of the
//! student's architecture.

use dinv_core::init::{normal_mat, uniform_mat, uniform_vec};
use dinv_core::{Activation, CoreError, Layer, Network};
use faer::Mat;
use rand::Rng;

/// Inputs and targets, one example per column.
#[derive(Clone, Debug)]
pub struct RegressionData {
    pub x: Mat<f64>,
    pub t: Mat<f64>,
}

impl RegressionData {
    pub fn len(&self) -> usize {
        self.x.ncols()
    }
    pub fn is_empty(&self) -> bool {
        self.x.ncols() == 0
    }
}

/// `T ~ U(−s, s)` of shape `d_out × d_in`: a one-layer linear teacher without bias.
pub fn linear_teacher<R: Rng + ?Sized>(
    rng: &mut R,
    d_in: usize,
    d_out: usize,
    half_width: f64,
) -> Network {
    Network {
        layers: vec![Layer {
            w: uniform_mat(rng, d_out, d_in, -half_width, half_width),
            b: None,
            act: Activation::Linear,
        }],
    }
}

/// A teacher network with the given widths and transfer functions, weights and
/// biases `U(−s, s)` (drawn layer by layer: weights, then bias).
pub fn network_teacher<R: Rng + ?Sized>(
    rng: &mut R,
    dims: &[usize],
    activations: &[Activation],
    bias: bool,
    half_width: f64,
) -> Result<Network, CoreError> {
    if dims.len() != activations.len() + 1 {
        return Err(CoreError::Shape {
            what: "teacher activations".into(),
            expected: format!("{} (one per layer)", dims.len().saturating_sub(1)),
            found: activations.len().to_string(),
        });
    }
    let layers = dims
        .windows(2)
        .zip(activations)
        .map(|(d, &act)| {
            let w = uniform_mat(rng, d[1], d[0], -half_width, half_width);
            let b = bias.then(|| uniform_vec(rng, d[1], -half_width, half_width));
            Layer { w, b, act }
        })
        .collect();
    Network::new(layers)
}

/// `n` inputs `x ~ N(0, I)` passed through the teacher.
pub fn sample<R: Rng + ?Sized>(rng: &mut R, teacher: &Network, n: usize) -> RegressionData {
    let d_in = teacher.layers[0].d_in();
    // Drawn example by example (column-major), so a longer set extends a shorter one.
    let x = normal_mat(rng, n, d_in, 1.0).transpose().to_owned();
    let t = teacher.predict_batch(x.as_ref());
    RegressionData { x, t }
}
