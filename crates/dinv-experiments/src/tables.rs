//! Conversions between faer matrices and the pipeline's long-format tables.

use std::collections::BTreeMap;

use dinv_pipeline::{StageError, StageResultExt, Table};
use faer::Mat;

/// Matrices in long format: columns `name`, `row`, `col`, `value`.
pub fn matrices_to_table<'a>(
    mats: impl IntoIterator<Item = (&'a str, &'a Mat<f64>)>,
) -> Result<Table, StageError> {
    let (mut names, mut rows, mut cols, mut values) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (name, m) in mats {
        for i in 0..m.nrows() {
            for j in 0..m.ncols() {
                names.push(name.to_string());
                rows.push(i as i64);
                cols.push(j as i64);
                values.push(m[(i, j)]);
            }
        }
    }
    Ok(Table::new()
        .with_str("name", names)?
        .with_i64("row", rows)?
        .with_i64("col", cols)?
        .with_f64("value", values)?)
}

/// The inverse of [`matrices_to_table`].
pub fn table_to_matrices(t: &Table) -> Result<BTreeMap<String, Mat<f64>>, StageError> {
    let (names, rows, cols, values) = (
        t.str("name")?,
        t.i64("row")?,
        t.i64("col")?,
        t.f64("value")?,
    );
    let mut shapes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for k in 0..names.len() {
        let e = shapes.entry(&names[k]).or_insert((0, 0));
        e.0 = e.0.max(rows[k] as usize + 1);
        e.1 = e.1.max(cols[k] as usize + 1);
    }
    let mut out: BTreeMap<String, Mat<f64>> = shapes
        .iter()
        .map(|(n, &(r, c))| (n.to_string(), Mat::from_fn(r, c, |_, _| f64::NAN)))
        .collect();
    for k in 0..names.len() {
        if let Some(m) = out.get_mut(names[k].as_str()) {
            m[(rows[k] as usize, cols[k] as usize)] = values[k];
        }
    }
    Ok(out)
}

/// Fetches a matrix by name with an error naming what is missing.
pub fn take(
    mats: &BTreeMap<String, Mat<f64>>,
    name: &str,
    source: &str,
) -> Result<Mat<f64>, StageError> {
    mats.get(name)
        .cloned()
        .ok_or_else(|| StageError::msg(format!("matrix `{name}` missing from {source}")))
}

/// Name of the random feedback draw for `B_l` (1-based `layer`) with half-width `h`,
/// as the data stages store it.
pub fn feedback_draw_name(layer: usize, h: f64) -> String {
    format!("B{layer}_U{h}")
}

/// Every feedback matrix `B_2 … B_L` of `net` built by `init`, the random kinds taking
/// their draw from `draws` (read from `source`); errors name `model` and the layer.
pub fn build_feedback(
    init: &dinv_core::FeedbackInit,
    net: &dinv_core::Network,
    draws: &BTreeMap<String, Mat<f64>>,
    source: &str,
    model: &str,
) -> Result<dinv_core::Feedback, StageError> {
    let depth = net.depth();
    let mut feedback = dinv_core::Feedback::none(depth);
    for i in 1..depth {
        let random = match init.random_half_width() {
            Some(h) => Some(take(draws, &feedback_draw_name(i + 1, h), source)?),
            None => None,
        };
        let (b, _ssa) = init
            .build(
                net.layers[i].w.as_ref(),
                random.as_ref().map(Mat::as_ref),
                i + 1,
            )
            .with_context(|| format!("model `{model}`: feedback initialisation of B_{}", i + 1))?;
        feedback.b[i] = Some(b);
    }
    Ok(feedback)
}
