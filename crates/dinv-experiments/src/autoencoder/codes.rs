//! The 30-d codes a training stage writes for the test images, read back by the
//! analysis (k-NN probe) and the t-SNE stages.

use dinv_pipeline::{StageError, Table};

/// Codes of test images: `data` holds `n` codes of dimension `d`, row-major.
pub(crate) struct Codes {
    pub data: Vec<f64>,
    pub n: usize,
    pub d: usize,
    pub index: Vec<i64>,
    pub label: Vec<i64>,
}

/// The codes a training stage wrote (`codes` table: `index`, `label`, `c0`, `c1`, …).
pub(crate) fn read_codes(t: &Table) -> Result<Codes, StageError> {
    let index = t.i64("index")?.to_vec();
    let label = t.i64("label")?.to_vec();
    let n = index.len();
    let cols: Vec<&[f64]> = (0..)
        .map(|c| format!("c{c}"))
        .map_while(|name| t.f64(&name).ok())
        .collect();
    let d = cols.len();
    let mut data = vec![0.0; n * d];
    for (c, col) in cols.iter().enumerate() {
        for (k, v) in col.iter().enumerate() {
            data[k * d + c] = *v;
        }
    }
    Ok(Codes {
        data,
        n,
        d,
        index,
        label,
    })
}
