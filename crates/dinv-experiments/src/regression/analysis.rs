//! Analysis of one run (one seed): the normalised error of Fig. 3a,b,g (each
//! model's training-set error divided by the maximum over all models and steps,
//! supp. 7.5.2), the stability of the dynamics *before* any re-stabilisation (the
//! spectral abscissa each SSA intervention started from), and the run's summary
//! numbers.

use std::collections::BTreeMap;

use dinv_core::Method;
use dinv_pipeline::{Stage, StageContext, StageError, Table};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::curves::{group, Curves};

#[derive(Serialize)]
pub(crate) struct ModelRef {
    pub name: String,
    pub method: Method,
}

/// One run and seed's analysis of every model's training.
#[derive(Serialize)]
pub(crate) struct AnalysisParams {
    /// The run's name (the stage reads only the models; the run keeps two runs' analyses
    /// of the same models apart in the key and the manifest).
    pub run: String,
    pub models: Vec<ModelRef>,
}

impl Stage for AnalysisParams {
    const KIND: &'static str = "regression_analysis";
    const VERSION: u32 = 2;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        analysis_stage(self, ctx)
    }
}

fn analysis_stage(p: &AnalysisParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    // Inputs: one training stage per model, then the run's data stage.
    if p.models.len() + 1 != ctx.inputs().len() {
        return Err(StageError::msg(format!(
            "analysis expects {} training stages and the data stage, got {} inputs",
            p.models.len(),
            ctx.inputs().len()
        )));
    }
    let (train_inputs, data_input) = ctx.inputs().split_at(p.models.len());
    let targets = TargetStats::of(&data_input[0].table("examples")?)?;
    let mut per_model: Vec<Curves> = Vec::new();
    let mut events: Vec<Vec<Event>> = Vec::new();
    for input in train_inputs {
        per_model.push(group(&input.table("metrics")?)?);
        events.push(read_events(&input.table("events")?)?);
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
    let (mut e_model, mut e_step, mut e_layer, mut e_before, mut e_after) =
        (vec![], vec![], vec![], vec![], vec![]);
    for ((model, curves), evs) in p.models.iter().zip(per_model.iter_mut()).zip(&events) {
        if let Some((steps, sse)) = curves.get("sse").and_then(|l| l.get(&0)).cloned() {
            let nmse: Vec<f64> = sse.iter().map(|v| v / max_sse).collect();
            curves
                .entry("nmse".into())
                .or_default()
                .insert(0, (steps, nmse));
        }
        add_pre_intervention(curves, evs);
        for e in evs {
            e_model.push(model.name.clone());
            e_step.push(e.step);
            e_layer.push(e.layer);
            e_before.push(e.before);
            e_after.push(e.after);
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
        let mut m = summarise(model.method, curves, evs);
        targets.summarise(&mut m, max_sse);
        summary.insert(model.name.clone(), Value::Object(m));
    }
    // The interventions themselves, for the figures to mark.
    ctx.write_table(
        "events",
        &Table::new()
            .with_str("model", e_model)?
            .with_i64("step", e_step)?
            .with_i64("layer", e_layer)?
            .with_f64("abscissa_before", e_before)?
            .with_f64("abscissa_after", e_after)?,
    )?;
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

/// How much of the targets depends on the input (the nonlinear teacher's small weights
/// make most of it a constant offset, which a network learns through its output bias).
struct TargetStats {
    /// Σ_n ‖t_n‖²: the training-set error of a network that outputs 0.
    sse_zero: f64,
    /// Σ_n ‖t_n − t̄‖²: the error of the best constant output, the mean target.
    sse_mean: f64,
}

impl TargetStats {
    /// From the data stage's `examples` table (columns `t0`, `t1`, … are the targets).
    fn of(examples: &Table) -> Result<Self, StageError> {
        let mut cols = Vec::new();
        while let Ok(c) = examples.f64(&format!("t{}", cols.len())) {
            cols.push(c);
        }
        let n = cols.first().map_or(0, |c| c.len());
        if cols.is_empty() || n == 0 {
            return Err(StageError::msg("the data stage's examples hold no targets"));
        }
        let (mut sse_zero, mut sse_mean) = (0.0, 0.0);
        for c in &cols {
            let mean = c.iter().sum::<f64>() / n as f64;
            sse_zero += c.iter().map(|t| t * t).sum::<f64>();
            sse_mean += c.iter().map(|t| (t - mean) * (t - mean)).sum::<f64>();
        }
        Ok(Self { sse_zero, sse_mean })
    }

    /// `input_dependent_share`: Σ‖t − t̄‖² / Σ‖t‖², the part of the targets' energy a
    /// constant output cannot give; `nmse_mean_predictor`: the normalised error of the
    /// best constant output; `input_variance_explained`: 1 − SSE / Σ‖t − t̄‖² at the
    /// end of training (≤ 0 for a model no better than the mean target).
    fn summarise(&self, out: &mut Map<String, Value>, max_sse: f64) {
        out.insert(
            "input_dependent_share".into(),
            json!(self.sse_mean / self.sse_zero),
        );
        if max_sse > 0.0 {
            out.insert("nmse_mean_predictor".into(), json!(self.sse_mean / max_sse));
        }
        if let Some(sse) = out.get("final_sse").and_then(Value::as_f64) {
            out.insert(
                "input_variance_explained".into(),
                json!(1.0 - sse / self.sse_mean),
            );
        }
    }
}

/// One SSA re-stabilisation of a layer's feedback during training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Event {
    pub step: i64,
    pub layer: i64,
    /// Spectral abscissa that triggered the intervention (positive).
    pub before: f64,
    /// Where SSA left it.
    pub after: f64,
}

fn read_events(t: &Table) -> Result<Vec<Event>, StageError> {
    let (step, layer, before, after) = (
        t.i64("step")?,
        t.i64("layer")?,
        t.f64("abscissa_before")?,
        t.f64("abscissa_after")?,
    );
    Ok((0..step.len())
        .map(|k| Event {
            step: step[k],
            layer: layer[k],
            before: before[k],
            after: after[k],
        })
        .collect())
}

/// Examples within which the paper expects variability of DI's stability ("with the
/// exception of substantial variability in the first ~100 iterations", sec. 5.1).
pub(crate) const EARLY_EXAMPLES: i64 = 100;

/// `abscissa_pre`: the spectral abscissa the dynamics had *before* any intervention at
/// each step, i.e. the recorded (post-SSA) value except at steps where SSA ran, where
/// it is the value that triggered it. Added for models with recorded abscissae.
fn add_pre_intervention(curves: &mut Curves, events: &[Event]) {
    let Some(layers) = curves.get("abscissa").cloned() else {
        return;
    };
    let mut pre = BTreeMap::new();
    for (layer, (steps, values)) in layers {
        let values = steps
            .iter()
            .zip(&values)
            .map(|(s, v)| {
                events
                    .iter()
                    .find(|e| e.step == *s && e.layer == layer)
                    .map_or(*v, |e| e.before)
            })
            .collect();
        pre.insert(layer, (steps, values));
    }
    curves.insert("abscissa_pre".into(), pre);
}

/// Key numbers of one model (the schema is documented in `summary.rs`).
fn summarise(method: Method, curves: &Curves, events: &[Event]) -> Map<String, Value> {
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
        for (threshold, key) in [
            (1e-2, "examples_to_nmse_1e-2"),
            (1e-3, "examples_to_nmse_1e-3"),
        ] {
            if let Some(k) = steps
                .iter()
                .zip(v)
                .find(|(_, x)| **x < threshold)
                .map(|(s, _)| *s)
            {
                out.insert(key.into(), json!(k));
            }
        }
        // The error early in training (Fig. 3g's "slower convergence"): at the first
        // evaluated step from 1000 examples on.
        if let Some(x) = steps
            .iter()
            .zip(v)
            .find(|(s, _)| **s >= 1000)
            .map(|(_, x)| *x)
        {
            out.insert("nmse_at_1000".into(), json!(x));
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
    // Where a curve settles: its mean over the second half of training.
    let settled = |metric: &str, layer: i64| -> Option<f64> {
        let (steps, v) = curves.get(metric)?.get(&layer)?;
        let half = steps.last().copied().unwrap_or(0) / 2;
        let vals: Vec<f64> = steps
            .iter()
            .zip(v)
            .filter(|(s, x)| **s > half && x.is_finite())
            .map(|(_, x)| *x)
            .collect();
        (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
    };
    let max_after_start = |metric: &str, layer: i64| -> Option<f64> {
        let (steps, v) = curves.get(metric)?.get(&layer)?;
        steps
            .iter()
            .zip(v)
            .filter(|(s, _)| **s > 0)
            .map(|(_, x)| *x)
            .reduce(f64::max)
    };
    let frac_positive = |metric: &str, layer: i64| -> Option<f64> {
        let (steps, v) = curves.get(metric)?.get(&layer)?;
        let vals: Vec<f64> = steps
            .iter()
            .zip(v)
            .filter(|(s, _)| **s > 0)
            .map(|(_, x)| *x)
            .collect();
        (!vals.is_empty())
            .then(|| vals.iter().filter(|x| **x > 0.0).count() as f64 / vals.len() as f64)
    };
    per_layer(&mut out, "final_max_eig", "abscissa", &last, max);
    // Stability over training as the dynamics would have it without intervention (for
    // NDI, which is never re-stabilised, the recorded abscissa itself).
    per_layer(
        &mut out,
        "max_eig_over_training",
        "abscissa_pre",
        &max_after_start,
        max,
    );
    per_layer(
        &mut out,
        "frac_steps_unstable",
        "abscissa_pre",
        &frac_positive,
        max,
    );
    per_layer(
        &mut out,
        "settled_angle_b_negwt_deg",
        "b_angle_deg",
        &settled,
        mean,
    );
    per_layer(
        &mut out,
        "final_angle_b_negwt_deg",
        "b_angle_deg",
        &last,
        mean,
    );
    if method.is_dynamic() {
        for (name, metric) in [
            ("di_ndi", "angle_ndi_deg"),
            ("di_pbp", "angle_pbp_deg"),
            ("di_bp", "angle_bp_deg"),
        ] {
            let key = format!("mean_angle_{name}_deg");
            per_layer(&mut out, &key, metric, &mean_after_start, mean);
            let key = format!("settled_angle_{name}_deg");
            per_layer(&mut out, &key, metric, &settled, mean);
        }
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
        out.insert("restabilisations".into(), json!(events.len()));
        let late = events.iter().filter(|e| e.step > EARLY_EXAMPLES).count();
        out.insert("restabilisations_after_100".into(), json!(late));
        let last_step = events.iter().map(|e| e.step).max().unwrap_or(0);
        out.insert("last_restabilisation_step".into(), json!(last_step));
        if !events.is_empty() {
            let after: Vec<f64> = events.iter().map(|e| e.after).collect();
            out.insert(
                "mean_abscissa_after_restabilisation".into(),
                json!(mean(&after)),
            );
            out.insert(
                "max_abscissa_after_restabilisation".into(),
                json!(max(&after)),
            );
            let before: Vec<f64> = events.iter().map(|e| e.before).collect();
            out.insert(
                "max_abscissa_before_restabilisation".into(),
                json!(max(&before)),
            );
        }
    }
    out
}
