//! Helpers for the checkpoints of the long training stages (classification and
//! autoencoder): matrices flattened and restored, metric names read back.

use dinv_pipeline::StageError;
use faer::Mat;

/// The entries of `m`, column by column (for checkpoints).
pub(crate) fn mat_values(m: &Mat<f64>) -> Vec<f64> {
    let mut v = Vec::with_capacity(m.nrows() * m.ncols());
    for j in 0..m.ncols() {
        v.extend_from_slice(m.col_as_slice(j));
    }
    v
}

/// The matrix saved as `name` by [`mat_values`], with the shape of `like`.
pub(crate) fn take_mat<T>(
    c: &mut dinv_pipeline::Checkpoint<T>,
    name: &str,
    like: &Mat<f64>,
) -> Result<Mat<f64>, StageError> {
    let (r, k) = (like.nrows(), like.ncols());
    let v = c.take(name, r * k)?;
    Ok(Mat::from_fn(r, k, |i, j| v[j * r + i]))
}

/// The `&'static str` for a metric name read back from a checkpoint (metric logs name
/// their metrics by static strings). Each distinct name is allocated once per process.
pub(crate) fn static_name(name: &str) -> &'static str {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}
