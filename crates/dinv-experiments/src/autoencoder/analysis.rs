//! Analysis of one replicate (one seed): every model's error curves against epochs,
//! the reconstructions and t-SNE maps of the detail models, and the key numbers of
//! the summary (schema in `mod.rs`), among them whether a model collapsed to the
//! mean-image baseline. The baselines pass through (`baselines.json`), so the figures
//! read analysis outputs only.

use std::collections::BTreeMap;

use dinv_pipeline::{Stage, StageContext, StageError, Table};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::baselines::{is_collapsed, train_mean_image};
use super::codes::read_codes;

/// One model as the analysis sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ModelRef {
    pub name: String,
    pub detail: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AnalysisParams {
    pub models: Vec<ModelRef>,
    pub train_examples: usize,
}

impl Stage for AnalysisParams {
    const KIND: &'static str = "autoencoder_analysis";
    const VERSION: u32 = 3;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        analysis_stage(self, ctx)
    }
}

/// One model's curves: metric → (steps, values).
pub(crate) type Curves = BTreeMap<String, (Vec<i64>, Vec<f64>)>;

pub(crate) fn group(t: &Table) -> Result<Curves, StageError> {
    let (step, metric, value) = (t.i64("step")?, t.str("metric")?, t.f64("value")?);
    let mut out: Curves = BTreeMap::new();
    for k in 0..step.len() {
        let e = out.entry(metric[k].clone()).or_default();
        e.0.push(step[k]);
        e.1.push(value[k]);
    }
    Ok(out)
}

/// Columns of the concatenated per-model tables, model first.
#[derive(Default)]
struct Long {
    model: Vec<String>,
    i64s: BTreeMap<String, Vec<i64>>,
    f64s: BTreeMap<String, Vec<f64>>,
}

impl Long {
    /// Appends every row of `t` (its `i64` and `f64` columns named in `i`, `f`).
    fn append(&mut self, model: &str, t: &Table, i: &[&str], f: &[&str]) -> Result<(), StageError> {
        self.model
            .extend(std::iter::repeat_n(model.to_string(), t.len()));
        for c in i {
            self.i64s
                .entry(c.to_string())
                .or_default()
                .extend_from_slice(t.i64(c)?);
        }
        for c in f {
            self.f64s
                .entry(c.to_string())
                .or_default()
                .extend_from_slice(t.f64(c)?);
        }
        Ok(())
    }

    fn table(self) -> Result<Table, StageError> {
        let mut t = Table::new().with_str("model", self.model)?;
        for (k, v) in self.i64s {
            t.push_i64(&k, v)?;
        }
        for (k, v) in self.f64s {
            t.push_f64(&k, v)?;
        }
        Ok(t)
    }
}

/// Neighbours of the k-NN probe of the codes.
pub(crate) const KNN_K: usize = 5;

/// Leave-one-out k-nearest-neighbour accuracy of `n` points of dimension `d`
/// (row-major) with `labels`: each point gets the majority label of its `k` nearest
/// other points (Euclidean), a tie going to the tied label of the nearest neighbour.
/// `None` with fewer than `k + 1` points.
pub fn knn_accuracy(data: &[f64], n: usize, d: usize, labels: &[i64], k: usize) -> Option<f64> {
    if n <= k || k == 0 || data.len() != n * d || labels.len() != n {
        return None;
    }
    let point = |i: usize| &data[i * d..(i + 1) * d];
    let mut correct = 0usize;
    let mut dist: Vec<(f64, usize)> = Vec::with_capacity(n - 1);
    for i in 0..n {
        dist.clear();
        let pi = point(i);
        for j in (0..n).filter(|&j| j != i) {
            let d2: f64 = pi
                .iter()
                .zip(point(j))
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            dist.push((d2, j));
        }
        // Ties in distance by index, so the result does not depend on the sort.
        dist.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let near = &mut dist[..k];
        near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut votes: BTreeMap<i64, usize> = BTreeMap::new();
        for &(_, j) in near.iter() {
            *votes.entry(labels[j]).or_default() += 1;
        }
        let top = votes.values().copied().max().unwrap_or(0);
        let winner = near
            .iter()
            .map(|&(_, j)| labels[j])
            .find(|l| votes[l] == top)
            .unwrap_or(i64::MIN);
        correct += usize::from(winner == labels[i]);
    }
    Some(correct as f64 / n as f64)
}

fn analysis_stage(p: &AnalysisParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let n_detail = p.models.iter().filter(|m| m.detail).count();
    if ctx.inputs().len() != p.models.len() + n_detail + 1 {
        return Err(StageError::msg(format!(
            "analysis expects {} training, {n_detail} t-SNE and one baselines stage, got {} inputs",
            p.models.len(),
            ctx.inputs().len()
        )));
    }
    let (trains, rest) = ctx.inputs().split_at(p.models.len());
    let (tsnes, baselines) = rest.split_at(n_detail);
    let baselines = baselines[0].json("baselines")?;
    let mean_image = train_mean_image(&baselines)?;
    let per_epoch = p.train_examples as f64;
    let mut curves = Long::default();
    let mut metric_names = Vec::new();
    let mut recon = Long::default();
    let mut embed = Long::default();
    let mut summary = Map::new();
    let mut tsnes = tsnes.iter();
    for (model, input) in p.models.iter().zip(trains) {
        let t = input.table("metrics")?;
        curves.append(&model.name, &t, &["step"], &["value"])?;
        metric_names.extend(t.str("metric")?.iter().cloned());
        let grouped = group(&t)?;
        let mut m = summarise(&grouped, p.train_examples as i64);
        if let Some(e) = m.get("final_mse_per_pixel").and_then(Value::as_f64) {
            let flag = if is_collapsed(e, mean_image) {
                1.0
            } else {
                0.0
            };
            m.insert("collapsed".into(), json!(flag));
        }
        if model.detail {
            recon.append(
                &model.name,
                &input.table("reconstructions")?,
                &["digit", "index", "pixel"],
                &["input", "output"],
            )?;
            let ts = tsnes
                .next()
                .ok_or_else(|| StageError::msg("missing t-SNE input"))?;
            embed.append(
                &model.name,
                &ts.table("embedding")?,
                &["index", "label"],
                &["x", "y"],
            )?;
            // How well the codes keep the digits apart, beyond the t-SNE picture.
            let codes = read_codes(&input.table("codes")?)?;
            if let Some(acc) = knn_accuracy(&codes.data, codes.n, codes.d, &codes.label, KNN_K) {
                m.insert("code_knn_accuracy".into(), json!(acc));
            }
            if let Some(kl) = ts
                .json("tsne")?
                .get("kl_divergence")
                .and_then(Value::as_f64)
            {
                m.insert("tsne_kl_divergence".into(), json!(kl));
            }
        }
        summary.insert(model.name.clone(), Value::Object(m));
    }
    let epochs: Vec<f64> = curves.i64s["step"]
        .iter()
        .map(|&s| s as f64 / per_epoch)
        .collect();
    let mut table = curves.table()?;
    table.push_str("metric", metric_names)?;
    table.push_f64("epoch", epochs)?;
    ctx.write_table("curves", &table)?;
    if !recon.model.is_empty() {
        ctx.write_table("reconstructions", &recon.table()?)?;
        ctx.write_table("embeddings", &embed.table()?)?;
    }
    ctx.write_json("summary", &json!({ "models": summary }))?;
    ctx.write_json("baselines", &baselines)?;
    Ok(())
}

/// Key numbers of one model: the error before training, after the first epoch
/// (`epoch_examples` examples) and at the end.
fn summarise(curves: &Curves, epoch_examples: i64) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |key: &str, v: Option<f64>| {
        if let Some(v) = v {
            out.insert(key.into(), json!(v));
        }
    };
    let at = |metric: &str, step: i64| {
        curves
            .get(metric)
            .and_then(|(s, v)| s.iter().position(|x| *x == step).map(|k| v[k]))
    };
    let last = |metric: &str| curves.get(metric).and_then(|(_, v)| v.last().copied());
    put("initial_mse_per_pixel", at("mse_per_pixel", 0));
    put("mse_per_pixel_epoch1", at("mse_per_pixel", epoch_examples));
    put("final_mse_per_pixel", last("mse_per_pixel"));
    put("final_sse_per_image", last("sse_per_image"));
    put("final_test_mse_per_pixel", last("test_mse_per_pixel"));
    out
}

#[cfg(test)]
mod tests {
    use super::knn_accuracy;

    /// Two tight clusters far apart are classified perfectly; labels that alternate
    /// along a line are always outvoted by their neighbours (each point's two nearest
    /// have the other label); a 2-2 tie goes to the nearest neighbour's label.
    #[test]
    fn knn_accuracy_by_hand() {
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for c in 0..2 {
            for i in 0..10 {
                data.extend([100.0 * c as f64 + 0.01 * i as f64, 0.0]);
                labels.push(c);
            }
        }
        assert_eq!(knn_accuracy(&data, 20, 2, &labels, 5), Some(1.0));
        let line: Vec<f64> = (0..20).map(f64::from).collect();
        let alt: Vec<i64> = (0..20).map(|i| i % 2).collect();
        assert_eq!(knn_accuracy(&line, 20, 1, &alt, 2), Some(0.0));
        // With k = 4 each of five points sees all the others. A label-1 point sees
        // three 0s and one 1 (outvoted); a label-0 point sees two of each, a tie won by
        // its nearest neighbour, which has label 1 (at equal distance, the lower index).
        let pts = [0.0, 1.0, 2.0, 3.0, 4.0];
        let lab = [0, 1, 0, 1, 0];
        let acc = knn_accuracy(&pts, 5, 1, &lab, 4).unwrap();
        assert_eq!(acc, 0.0);
        assert_eq!(knn_accuracy(&pts, 5, 1, &lab, 5), None);
    }
}
