//! Analysis of one run (one seed): the normalised error of Fig. 3a,b,g (each
//! model's training-set error divided by the maximum over all models and steps,
//! supp. 7.5.2), and the run's summary numbers.

use std::collections::BTreeMap;

use dinv_core::Method;
use dinv_pipeline::{StageContext, StageError, Table};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
struct ModelRef {
    name: String,
    method: Method,
}

#[derive(Deserialize)]
struct AnalysisParams {
    models: Vec<ModelRef>,
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

pub(crate) fn analysis_stage(ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let p: AnalysisParams = ctx.params_as()?;
    if p.models.len() != ctx.inputs().len() {
        return Err(StageError::msg(format!(
            "analysis expects {} training stages, got {}",
            p.models.len(),
            ctx.inputs().len()
        )));
    }
    let mut per_model: Vec<Curves> = Vec::new();
    let mut events: Vec<usize> = Vec::new();
    for input in ctx.inputs() {
        per_model.push(group(&input.table("metrics")?)?);
        events.push(input.table("events")?.len());
    }
    // Normalise by the largest error over all models and steps.
    let max_sse = per_model
        .iter()
        .filter_map(|c| c.get("sse").and_then(|l| l.get(&0)))
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let (mut m_col, mut s_col, mut k_col, mut l_col, mut v_col) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut summary = Map::new();
    for ((model, curves), n_events) in p.models.iter().zip(per_model.iter_mut()).zip(&events) {
        if let Some((steps, sse)) = curves.get("sse").and_then(|l| l.get(&0)).cloned() {
            let nmse: Vec<f64> = sse.iter().map(|v| v / max_sse).collect();
            curves
                .entry("nmse".into())
                .or_default()
                .insert(0, (steps, nmse));
        }
        for (metric, layers) in curves.iter() {
            for (layer, (steps, values)) in layers {
                for (s, v) in steps.iter().zip(values) {
                    m_col.push(model.name.clone());
                    k_col.push(metric.clone());
                    s_col.push(*s);
                    l_col.push(*layer);
                    v_col.push(*v);
                }
            }
        }
        summary.insert(
            model.name.clone(),
            Value::Object(summarise(model.method, curves, *n_events)),
        );
    }
    ctx.write_table(
        "curves",
        &Table::new()
            .with_str("model", m_col)?
            .with_i64("step", s_col)?
            .with_str("metric", k_col)?
            .with_i64("layer", l_col)?
            .with_f64("value", v_col)?,
    )?;
    ctx.write_json("summary", &json!({ "max_sse": max_sse, "models": summary }))?;
    Ok(())
}

/// Key numbers of one model (the schema is documented in `summary.rs`).
fn summarise(method: Method, curves: &Curves, restabilisations: usize) -> Map<String, Value> {
    let mut out = Map::new();
    let last = |metric: &str, layer: i64| -> Option<f64> {
        curves
            .get(metric)
            .and_then(|l| l.get(&layer))
            .and_then(|(_, v)| v.last().copied())
    };
    let mean_after_start = |metric: &str, layer: i64| -> Option<f64> {
        let (steps, v) = curves.get(metric)?.get(&layer)?;
        let vals: Vec<f64> = steps
            .iter()
            .zip(v)
            .filter(|(s, x)| **s > 0 && x.is_finite())
            .map(|(_, x)| *x)
            .collect();
        (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
    };
    let put = |out: &mut Map<String, Value>, key: &str, v: Option<f64>| {
        if let Some(v) = v {
            out.insert(key.into(), json!(v));
        }
    };
    put(&mut out, "final_nmse", last("nmse", 0));
    // Speed of convergence: mean log10 error over training, and the first example
    // after which the normalised error is below 1e-2 (absent if never).
    if let Some((steps, v)) = curves.get("nmse").and_then(|l| l.get(&0)) {
        let logs: Vec<f64> = v.iter().filter(|x| **x > 0.0).map(|x| x.log10()).collect();
        if !logs.is_empty() {
            out.insert(
                "mean_log10_nmse".into(),
                json!(logs.iter().sum::<f64>() / logs.len() as f64),
            );
        }
        if let Some(k) = steps
            .iter()
            .zip(v)
            .find(|(_, x)| **x < 1e-2)
            .map(|(s, _)| *s)
        {
            out.insert("examples_to_nmse_1e-2".into(), json!(k));
        }
    }
    put(&mut out, "final_sse", last("sse", 0));
    // Per-layer quantities: an aggregate key plus `_l<layer>` keys when there are several layers.
    let per_layer = |out: &mut Map<String, Value>,
                     key: &str,
                     metric: &str,
                     f: &dyn Fn(&str, i64) -> Option<f64>,
                     agg: fn(&[f64]) -> f64| {
        let Some(layers) = curves.get(metric) else {
            return;
        };
        let vals: Vec<(i64, f64)> = layers
            .keys()
            .filter_map(|&l| f(metric, l).map(|v| (l, v)))
            .collect();
        if vals.is_empty() {
            return;
        }
        let xs: Vec<f64> = vals.iter().map(|x| x.1).collect();
        out.insert(key.into(), json!(agg(&xs)));
        if vals.len() > 1 {
            for (l, v) in vals {
                out.insert(format!("{key}_l{l}"), json!(v));
            }
        }
    };
    let max = |xs: &[f64]| xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    per_layer(&mut out, "final_max_eig", "abscissa", &last, max);
    per_layer(
        &mut out,
        "final_angle_b_negwt_deg",
        "b_angle_deg",
        &last,
        mean,
    );
    if method.is_dynamic() {
        per_layer(
            &mut out,
            "mean_angle_di_ndi_deg",
            "angle_ndi_deg",
            &mean_after_start,
            mean,
        );
        per_layer(
            &mut out,
            "mean_angle_di_pbp_deg",
            "angle_pbp_deg",
            &mean_after_start,
            mean,
        );
        per_layer(
            &mut out,
            "mean_angle_di_bp_deg",
            "angle_bp_deg",
            &mean_after_start,
            mean,
        );
        per_layer(
            &mut out,
            "mean_di_steps",
            "di_steps",
            &mean_after_start,
            mean,
        );
        per_layer(
            &mut out,
            "euler_fraction",
            "di_euler",
            &mean_after_start,
            mean,
        );
    }
    if matches!(method, Method::Ndi | Method::Di | Method::Sdi) {
        out.insert("restabilisations".into(), json!(restabilisations));
    }
    out
}
