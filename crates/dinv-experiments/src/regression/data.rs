//! The data stage's outputs read back by the stages that train or analyse on them.

use std::collections::BTreeMap;

use dinv_data::synthetic::RegressionData;
use dinv_pipeline::{StageContext, StageError};
use faer::Mat;

use crate::spec::NetworkSpec;
use crate::tables::table_to_matrices;

/// Examples, presentation order and initial matrices, as written by the data stage.
type LoadedData = (RegressionData, Vec<usize>, BTreeMap<String, Mat<f64>>);

/// Reads the data stage's outputs back (the data stage must be the first input).
pub(super) fn load_data(
    ctx: &StageContext<'_>,
    net: &NetworkSpec,
) -> Result<LoadedData, StageError> {
    let input = &ctx.inputs()[0];
    let examples = input.table("examples")?;
    let (d_in, d_out) = (net.dims[0], *net.dims.last().unwrap_or(&1));
    let n = examples.len();
    let mut x = Mat::zeros(d_in, n);
    for i in 0..d_in {
        for (k, v) in examples.f64(&format!("x{i}"))?.iter().enumerate() {
            x[(i, k)] = *v;
        }
    }
    let mut t = Mat::zeros(d_out, n);
    for i in 0..d_out {
        for (k, v) in examples.f64(&format!("t{i}"))?.iter().enumerate() {
            t[(i, k)] = *v;
        }
    }
    let order: Vec<usize> = input
        .table("order")?
        .i64("index")?
        .iter()
        .map(|&i| i as usize)
        .collect();
    if order.iter().any(|&i| i >= n) {
        return Err(StageError::msg(format!(
            "order table of {} refers past the {n} examples",
            input.id()
        )));
    }
    let init = table_to_matrices(&input.table("init")?)?;
    Ok((RegressionData { x, t }, order, init))
}
