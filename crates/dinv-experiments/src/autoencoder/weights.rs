//! Weight matrices as stage outputs: all matrices of a network stacked row-major in one
//! `value` column, with a small `<name>_layout` table of names and shapes.
//!
//! The autoencoder has about 10⁶ weights. In the long format of
//! [`crate::tables::matrices_to_table`] (one row per entry with name, row and column)
//! a training stage spent more time writing its final weights than training at smoke
//! scale; one plain `f64` column writes about 3× and reads about 6× faster (measured).

use std::collections::BTreeMap;

use dinv_pipeline::{StageContext, StageError, StageOutputs, Table};
use faer::Mat;

/// Writes `mats` as outputs `<name>` (values) and `<name>_layout` (name, rows, cols).
pub fn write(
    ctx: &mut StageContext<'_>,
    name: &str,
    mats: &[(String, Mat<f64>)],
) -> Result<(), StageError> {
    let total = mats.iter().map(|(_, m)| m.nrows() * m.ncols()).sum();
    let mut values = Vec::with_capacity(total);
    for (_, m) in mats {
        for i in 0..m.nrows() {
            values.extend((0..m.ncols()).map(|j| m[(i, j)]));
        }
    }
    ctx.write_table(name, &Table::new().with_f64("value", values)?)?;
    ctx.write_table(
        &format!("{name}_layout"),
        &Table::new()
            .with_str("name", mats.iter().map(|(n, _)| n.clone()).collect())?
            .with_i64("rows", mats.iter().map(|(_, m)| m.nrows() as i64).collect())?
            .with_i64("cols", mats.iter().map(|(_, m)| m.ncols() as i64).collect())?,
    )?;
    Ok(())
}

/// Reads back what [`write()`] wrote under `name` in `input`.
pub fn read(input: &StageOutputs, name: &str) -> Result<BTreeMap<String, Mat<f64>>, StageError> {
    let values = input.table(name)?;
    let values = values.f64("value")?;
    let layout = input.table(&format!("{name}_layout"))?;
    let (names, rows, cols) = (
        layout.str("name")?,
        layout.i64("rows")?,
        layout.i64("cols")?,
    );
    let mut out = BTreeMap::new();
    let mut at = 0;
    for k in 0..names.len() {
        let (r, c) = (rows[k] as usize, cols[k] as usize);
        let Some(block) = values.get(at..at + r * c) else {
            return Err(StageError::msg(format!(
                "{}: `{name}` holds {} values, too few for `{}` ({r}×{c}) at offset {at}",
                input.id(),
                values.len(),
                names[k]
            )));
        };
        out.insert(
            names[k].clone(),
            Mat::from_fn(r, c, |i, j| block[i * c + j]),
        );
        at += r * c;
    }
    if at != values.len() {
        return Err(StageError::msg(format!(
            "{}: `{name}` holds {} values but its layout describes {at}",
            input.id(),
            values.len()
        )));
    }
    Ok(out)
}
