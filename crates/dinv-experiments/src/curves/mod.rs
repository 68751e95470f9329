//! What the curve experiments (the regressions of Fig. 3 and the classifications of
//! Fig. 4a) share: the long-format metric log a training run writes, its grouping into
//! curves, the figure schema and the line figures drawn from the curves, and the
//! per-pipeline summary across runs and seeds (the autoencoder's summary reuses it).

use std::collections::BTreeMap;

use dinv_pipeline::{StageError, Table};
use serde_json::json;

pub mod figures;
pub mod spec;
pub mod summary;

/// Metric rows in long format: `(step, metric, layer, value)`. `layer` follows the
/// paper: `l` for `W_l`/`B_l`/`δ_l`, 0 for whole-network quantities.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricLog {
    pub step: Vec<i64>,
    pub metric: Vec<&'static str>,
    pub layer: Vec<i64>,
    pub value: Vec<f64>,
}

impl MetricLog {
    pub fn push(&mut self, step: usize, metric: &'static str, layer: usize, value: f64) {
        self.step.push(step as i64);
        self.metric.push(metric);
        self.layer.push(layer as i64);
        self.value.push(value);
    }

    pub fn len(&self) -> usize {
        self.step.len()
    }

    pub fn is_empty(&self) -> bool {
        self.step.is_empty()
    }

    /// Values of one metric and layer, in step order.
    pub fn series(&self, metric: &str, layer: usize) -> Vec<(i64, f64)> {
        (0..self.len())
            .filter(|&k| self.metric[k] == metric && self.layer[k] == layer as i64)
            .map(|k| (self.step[k], self.value[k]))
            .collect()
    }
}

/// One model's metrics, grouped: metric → layer → (steps, values).
pub(crate) type Curves = BTreeMap<String, BTreeMap<i64, (Vec<i64>, Vec<f64>)>>;

pub(crate) fn group(t: &Table) -> Result<Curves, StageError> {
    let (step, metric, layer, value) = (
        t.i64("step")?,
        t.str("metric")?,
        t.i64("layer")?,
        t.f64("value")?,
    );
    let mut out: Curves = BTreeMap::new();
    for k in 0..step.len() {
        let e = out
            .entry(metric[k].clone())
            .or_default()
            .entry(layer[k])
            .or_default();
        e.0.push(step[k]);
        e.1.push(value[k]);
    }
    Ok(out)
}

/// Label, method and leak of every model, for the summary (the report reads them).
pub(crate) fn model_meta(models: &[crate::spec::ModelSpec]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for model in models {
        m.insert(
            model.name.clone(),
            json!({ "label": model.label, "method": model.method, "alpha": model.alpha }),
        );
    }
    serde_json::Value::Object(m)
}
