//! Reference errors for Fig. 4b: what an autoencoder scores without learning any
//! structure of the digits. Outputting zeros, outputting the mean training image (what
//! a network that learned only its output biases does), and PCA with as many components
//! as the code has units, the best any *linear* autoencoder with that code can do
//! (Baldi & Hornik 1989; Eckart–Young). All are the per-pixel mean squared error of
//! [`super::train`]'s `mse_per_pixel`, on the same images (pixels / 255, not centred).
//!
//! Pure functions, no I/O; the stage wrapper is `baselines_stage`.

use dinv_data::mnist::SplitName;
use dinv_data::preprocess::Normaliser;
use dinv_pipeline::{Stage, StageContext, StageError};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par, Side};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::train::Images;
use crate::mnist_data::{Dataset, Source};

/// A final error within this fraction (relative) of the mean-image error: the network
/// has learned only its output biases. It has "collapsed".
pub const COLLAPSE_TOLERANCE: f64 = 0.02;

/// Images per block when accumulating (keeps the normalised block in cache).
const BLOCK: usize = 500;

/// Whether a final error `err` is the mean image's error `mean_image` (within
/// [`COLLAPSE_TOLERANCE`]).
pub fn is_collapsed(err: f64, mean_image: f64) -> bool {
    (err - mean_image).abs() <= COLLAPSE_TOLERANCE * mean_image
}

/// Principal components of a set of images.
#[derive(Clone, Debug)]
pub struct Pca {
    /// The mean image `μ`.
    pub mean: Vec<f64>,
    /// The leading `k` eigenvectors of the covariance, as columns (`pixels × k`).
    pub components: Mat<f64>,
    /// All eigenvalues of the covariance `C = (1/n) Σ (x − μ)(x − μ)ᵀ`, largest first.
    pub eigenvalues: Vec<f64>,
}

/// Calls `f` with consecutive blocks of the images, one image per column.
fn for_blocks(images: Images<'_>, mut f: impl FnMut(&Mat<f64>)) {
    let mut x = Mat::new();
    let mut idx = Vec::with_capacity(BLOCK);
    let mut start = 0;
    while start < images.n {
        let cols = BLOCK.min(images.n - start);
        idx.clear();
        idx.extend(start..start + cols);
        images.batch_into(&idx, &mut x);
        f(&x);
        start += cols;
    }
}

/// `x − μ`, column by column.
fn centred(x: &Mat<f64>, mean: &[f64]) -> Mat<f64> {
    Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - mean[i])
}

/// The mean image and the `k` leading principal components of `images` (two passes:
/// the mean, then the covariance of the centred images, so no cancellation).
pub fn fit_pca(images: Images<'_>, k: usize) -> Result<Pca, String> {
    let pixels = images.normaliser.pixels();
    if images.n == 0 || k > pixels {
        return Err(format!(
            "PCA needs at least one image and at most {pixels} components (got {} images, {k} components)",
            images.n
        ));
    }
    let n = images.n as f64;
    let mut mean = vec![0.0; pixels];
    for_blocks(images, |x| {
        for j in 0..x.ncols() {
            for (m, v) in mean.iter_mut().zip(x.col_as_slice(j)) {
                *m += v;
            }
        }
    });
    mean.iter_mut().for_each(|m| *m /= n);
    let mut cov = Mat::<f64>::zeros(pixels, pixels);
    for_blocks(images, |x| {
        let xc = centred(x, &mean);
        matmul(
            cov.as_mut(),
            Accum::Add,
            xc.as_ref(),
            xc.transpose(),
            1.0 / n,
            Par::Seq,
        );
    });
    let evd = cov
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| format!("eigendecomposition of the pixel covariance failed: {e:?}"))?;
    // faer sorts the eigenvalues in nondecreasing order.
    let (u, s) = (evd.U(), evd.S().column_vector());
    let eigenvalues: Vec<f64> = (0..pixels).rev().map(|i| s[i]).collect();
    let components = Mat::from_fn(pixels, k, |i, c| u[(i, pixels - 1 - c)]);
    Ok(Pca {
        mean,
        components,
        eigenvalues,
    })
}

/// Per-pixel mean squared errors of the three reference reconstructions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineErrors {
    /// Outputting zeros: the mean squared pixel.
    pub zeros: f64,
    /// Outputting the mean training image.
    pub mean_image: f64,
    /// Projecting onto the principal components: `μ + U Uᵀ (x − μ)`.
    pub pca: f64,
}

/// The reference errors on `images`, with `pca` fitted elsewhere (on the training set).
pub fn errors(pca: &Pca, images: Images<'_>) -> BaselineErrors {
    let (mut zeros, mut mean_image, mut residual) = (0.0, 0.0, 0.0);
    let u = &pca.components;
    for_blocks(images, |x| {
        let xc = centred(x, &pca.mean);
        let mut code = Mat::zeros(u.ncols(), xc.ncols());
        matmul(
            code.as_mut(),
            Accum::Replace,
            u.transpose(),
            xc.as_ref(),
            1.0,
            Par::Seq,
        );
        let mut r = xc.clone();
        matmul(
            r.as_mut(),
            Accum::Add,
            u.as_ref(),
            code.as_ref(),
            -1.0,
            Par::Seq,
        );
        for j in 0..x.ncols() {
            zeros += x.col_as_slice(j).iter().map(|v| v * v).sum::<f64>();
            mean_image += xc.col_as_slice(j).iter().map(|v| v * v).sum::<f64>();
            residual += r.col_as_slice(j).iter().map(|v| v * v).sum::<f64>();
        }
    });
    let per = (images.n * images.normaliser.pixels()) as f64;
    BaselineErrors {
        zeros: zeros / per,
        mean_image: mean_image / per,
        pca: residual / per,
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct BaselineParams {
    pub dataset: Dataset,
    pub source: Source,
    /// The data's identity (checksums), so new data invalidates the cache.
    pub identity: Value,
    pub train_examples: usize,
    pub test_examples: usize,
    /// Principal components kept: the width of the code layer.
    pub components: usize,
}

impl Stage for BaselineParams {
    const KIND: &'static str = "autoencoder_baselines";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        baselines_stage(self, ctx)
    }
}

/// The reference errors on the training images (what Fig. 4b plots and the claims
/// judge) and on the test images, with the mean and components from the training
/// images. Writes `baselines.json`:
/// `{ "pca_components", "train": { "zeros", "mean_image", "pca" }, "test": {…} }`.
fn baselines_stage(p: &BaselineParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    dinv_core::kernels::fp::flush_subnormals();
    let train = p.dataset.load(p.source, SplitName::Train)?;
    let test = p.dataset.load(p.source, SplitName::Test)?;
    for (split, n, what) in [
        (&train, p.train_examples, "train_examples"),
        (&test, p.test_examples, "test_examples"),
    ] {
        if n > split.n {
            return Err(StageError::msg(format!(
                "data.{what} is {n}, but the split has only {} images",
                split.n
            )));
        }
    }
    let normaliser = Normaliser::unit_interval(train.pixels_per_image());
    let images = |split, n| Images {
        split,
        n,
        normaliser: &normaliser,
    };
    let pca = fit_pca(images(&train, p.train_examples), p.components).map_err(StageError::msg)?;
    let on_train = errors(&pca, images(&train, p.train_examples));
    let on_test = errors(&pca, images(&test, p.test_examples));
    ctx.write_json(
        "baselines",
        &json!({ "pca_components": p.components, "train": on_train, "test": on_test }),
    )?;
    Ok(())
}

/// The training-set mean-image error from a `baselines.json`.
pub(crate) fn train_mean_image(v: &Value) -> Result<f64, StageError> {
    v.pointer("/train/mean_image")
        .and_then(Value::as_f64)
        .ok_or_else(|| StageError::msg("baselines.json has no train.mean_image"))
}
