//! From `u8` images to the dense `f64` inputs the networks see, examples as columns.
//!
//! Every transform here is affine per pixel, `x'_i = (x_i − offset_i) / scale`, and is
//! fitted on the *training* split only; the test split is transformed with the same
//! numbers. The three transforms used in the paper:
//!
//! - [`Centering::PerPixel`] (supp. 7.5.4, as written: "subtract the mean from each pixel
//!   dimension and normalise the variance (across all pixels) to 1"): `offset_i` is the
//!   training mean of pixel `i`, `scale` the one scalar that makes the variance over all
//!   pixels and training images equal to 1.
//! - [`Centering::Global`] (the authors' public code): one global training mean and the
//!   global training standard deviation, i.e. the familiar `(x/255 − 0.1307) / 0.3081`.
//! - [`Normaliser::unit_interval`] (supp. 7.5.5, autoencoder): `x / 255` in [0, 1].
//!
//! Variances are population variances (divided by the number of values, not one less).

use dinv_core::kernels::split::{for_halves, Halve};
use faer::{Mat, MatMut};

use crate::error::DataError;
use crate::mnist::Split;

/// Number of digit classes, the length of a one-hot label.
pub const N_CLASSES: usize = 10;

/// Largest pixel value, the scale of [`Normaliser::unit_interval`].
const MAX_PIXEL: f64 = 255.0;

/// How classification inputs are centred (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Centering {
    /// Paper text: per-pixel training means, one scalar scale.
    PerPixel,
    /// Authors' code: one global mean, global standard deviation.
    Global,
}

/// Training-set pixel statistics, in raw pixel units (0..=255).
#[derive(Clone, Debug, PartialEq)]
pub struct PixelStats {
    /// Number of training images the statistics were fitted on.
    pub n: usize,
    /// Mean of each pixel over the training images (`rows · cols` values).
    pub pixel_means: Vec<f64>,
    /// Mean over all pixels and training images.
    pub global_mean: f64,
    /// Standard deviation over all pixels and training images around `global_mean`.
    pub global_std: f64,
    /// Root mean square of `x_ki − pixel_means[i]` over all pixels and images: the scale
    /// of [`Centering::PerPixel`].
    pub per_pixel_scale: f64,
}

impl PixelStats {
    /// Fits the statistics on the training split. Sums are accumulated in integers, so
    /// the result does not depend on summation order.
    ///
    /// Fails if the split has no pixels or all its images are identical (nothing to
    /// normalise by).
    pub fn fit(train: &Split) -> Result<Self, DataError> {
        let p = train.pixels_per_image();
        let n = train.n;
        if n == 0 || p == 0 {
            return Err(DataError::Degenerate {
                expected: "at least one image of at least one pixel".to_owned(),
                found: format!("{n} images of {}×{} pixels", train.rows, train.cols),
            });
        }
        let mut sum = vec![0u64; p];
        let mut sum_sq = vec![0u64; p];
        for image in train.images.chunks_exact(p).take(n) {
            for ((s, q), &x) in sum.iter_mut().zip(sum_sq.iter_mut()).zip(image) {
                let x = u64::from(x);
                *s += x;
                *q += x * x;
            }
        }
        // Exact: N·Σx² − (Σx)² per pixel, summed; and the same over all values.
        let n128 = n as u128;
        let within: u128 = sum
            .iter()
            .zip(&sum_sq)
            .map(|(&s, &q)| n128 * u128::from(q) - u128::from(s) * u128::from(s))
            .sum();
        let total: u128 = sum.iter().map(|&s| u128::from(s)).sum();
        let total_sq: u128 = sum_sq.iter().map(|&q| u128::from(q)).sum();
        let m = n128 * p as u128;
        let nf = n as f64;
        let mf = m as f64;

        let per_pixel_scale = (within as f64 / (nf * nf * p as f64)).sqrt();
        if per_pixel_scale == 0.0 {
            return Err(DataError::Degenerate {
                expected: "pixel values that vary across images".to_owned(),
                found: format!("{n} identical images"),
            });
        }
        Ok(PixelStats {
            n,
            pixel_means: sum.iter().map(|&s| s as f64 / nf).collect(),
            global_mean: total as f64 / mf,
            global_std: ((m * total_sq - total * total) as f64 / (mf * mf)).sqrt(),
            per_pixel_scale,
        })
    }

    /// The classification transform for the given centering.
    pub fn normaliser(&self, centering: Centering) -> Normaliser {
        match centering {
            Centering::PerPixel => Normaliser {
                offset: self.pixel_means.clone(),
                scale: self.per_pixel_scale,
            },
            Centering::Global => Normaliser {
                offset: vec![self.global_mean; self.pixel_means.len()],
                scale: self.global_std,
            },
        }
    }
}

/// An affine per-pixel map `x'_i = (x_i − offset_i) / scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct Normaliser {
    offset: Vec<f64>,
    scale: f64,
}

impl Normaliser {
    /// Supp. 7.5.5 (autoencoder): `x / 255`, so 0 ↦ 0 and 255 ↦ 1.
    pub fn unit_interval(pixels: usize) -> Self {
        Normaliser {
            offset: vec![0.0; pixels],
            scale: MAX_PIXEL,
        }
    }

    /// Pixels per image this map expects.
    pub fn pixels(&self) -> usize {
        self.offset.len()
    }

    /// Per-pixel offsets, in raw pixel units.
    pub fn offset(&self) -> &[f64] {
        &self.offset
    }

    /// The common divisor, in raw pixel units.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Transforms one image into `out`.
    ///
    /// # Panics
    /// If `image` or `out` does not have [`Self::pixels`] elements.
    pub fn example_into(&self, image: &[u8], out: &mut [f64]) {
        assert_eq!(
            image.len(),
            self.pixels(),
            "image length vs normaliser pixels"
        );
        assert_eq!(
            out.len(),
            self.pixels(),
            "output length vs normaliser pixels"
        );
        for ((o, &x), &m) in out.iter_mut().zip(image).zip(&self.offset) {
            *o = (f64::from(x) - m) / self.scale;
        }
    }

    /// Writes examples `indices[j]` of `split` into column `j` of `out`
    /// (`pixels × indices.len()`): one mini-batch without materialising the whole set.
    ///
    /// # Panics
    /// If the shapes disagree or an index is out of range.
    pub fn batch_into(&self, split: &Split, indices: &[usize], out: MatMut<'_, f64>) {
        assert_eq!(
            out.nrows(),
            self.pixels(),
            "output rows vs normaliser pixels"
        );
        assert_eq!(out.ncols(), indices.len(), "output columns vs batch size");
        // Two halves of the columns as two tasks: each entry is computed alone, so the
        // bits do not depend on the split.
        for_halves(out, Halve::Columns, |mut half, j0| {
            for j in 0..half.ncols() {
                let image = split.image(indices[j0 + j]);
                match half.as_mut().col_mut(j).try_as_col_major_mut() {
                    Some(col) => self.example_into(image, col.as_slice_mut()),
                    None => {
                        assert_eq!(
                            image.len(),
                            self.pixels(),
                            "image length vs normaliser pixels"
                        );
                        for (i, (&x, &m)) in image.iter().zip(&self.offset).enumerate() {
                            half[(i, j)] = (f64::from(x) - m) / self.scale;
                        }
                    }
                }
            }
        });
    }

    /// The whole split as a `pixels × n` matrix, one example per column.
    ///
    /// # Panics
    /// If the split's image size differs from [`Self::pixels`].
    pub fn transform(&self, split: &Split) -> Mat<f64> {
        let mut out = Mat::zeros(self.pixels(), split.n);
        for k in 0..split.n {
            self.example_into(split.image(k), out.col_as_slice_mut(k));
        }
        out
    }
}

/// Writes the one-hot code of `label` into `out` (length [`N_CLASSES`]).
///
/// # Panics
/// If `out.len() != N_CLASSES` or `label >= N_CLASSES`.
pub fn one_hot_into(label: u8, out: &mut [f64]) {
    assert_eq!(out.len(), N_CLASSES, "one-hot output length");
    out.fill(0.0);
    out[usize::from(label)] = 1.0;
}

/// One-hot labels as an `N_CLASSES × n` matrix, one example per column.
///
/// # Panics
/// If a label is `>= N_CLASSES` (loaded labels are validated to 0..=9).
pub fn one_hot(labels: &[u8]) -> Mat<f64> {
    let mut out = Mat::zeros(N_CLASSES, labels.len());
    for (k, &l) in labels.iter().enumerate() {
        one_hot_into(l, out.col_as_slice_mut(k));
    }
    out
}

/// One-hot codes of `labels[indices[j]]` in column `j` of `out` (`N_CLASSES × indices.len()`).
///
/// # Panics
/// If the shapes disagree, an index is out of range or a label is `>= N_CLASSES`.
pub fn one_hot_batch_into(labels: &[u8], indices: &[usize], mut out: MatMut<'_, f64>) {
    assert_eq!(out.nrows(), N_CLASSES, "output rows vs classes");
    assert_eq!(out.ncols(), indices.len(), "output columns vs batch size");
    for (j, &k) in indices.iter().enumerate() {
        for i in 0..N_CLASSES {
            out[(i, j)] = 0.0;
        }
        out[(usize::from(labels[k]), j)] = 1.0;
    }
}
