//! Beyond the paper, and a plug-in written as one file: how far DI's finite Euler
//! simulation (Algorithm 1) is from its steady state, NDI's closed form (Eq. 10), as the
//! simulated time grows. The paper simulates 10000 steps of dt = 0.1 (time 1000) and
//! treats the result as the steady state; its slowest mode decays at the rate
//! `λ_min(W Wᵀ) + α` (Tr-Init, `B = −Wᵀ`), so with small weights and a small leak that
//! time is about one time constant.
//!
//! A pipeline file names the layer (`d_in`, `d_out`), the weight scales and leaks to
//! cross, and the simulated times at which to compare:
//!
//! ```toml
//! [pipeline]
//! name = "ext_di_convergence"
//! experiment = "di_convergence"
//! title = "…"
//! seeds = { smoke = [1, 2], paper = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }
//!
//! [layer]
//! d_in = 20
//! d_out = 10
//! half_widths = [0.01, 0.5]       # W ~ U(−h, h), B = −Wᵀ
//! alphas = [0.1, 0.01, 0.001]
//!
//! [integration]
//! dt = 0.1
//! times = [1.0, 10.0, 100.0, 1000.0]
//! ```
//!
//! Each seed draws one `W` per weight scale and one target `δ_l ~ N(0, I)`; each (scale,
//! α) is a "model" named `h<h>-a<α>`, so the summary has the usual schema
//! (`runs.euler.<model>.angle_at_t<T>`, `rel_error_at_t<T>`) and `[[claim]]`s judge it.

use std::path::Path;

use dinv_core::init::{normal_mat, uniform_mat};
use dinv_core::inverse::ndi_inverse;
use dinv_core::metrics::angle_deg;
use dinv_core::{Activation, Dynamics, Integration, LayerSystem};
use dinv_figures::{render, Axis, Band, Figure, LegendPos, LinePanel, Panel, Rgb, Series};
use dinv_pipeline::{Graph, Stage, StageContext, StageError, StageId, StageSpec};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::claim::ClaimSpec;
use crate::curves::figures::median_iqr;
use crate::experiment::{Experiment, Pipeline};
use crate::spec::{check_positive, PipelineHeader, Scale};

/// The run name in `summary.json`.
const RUN: &str = "euler";

/// The experiment kind `di_convergence`.
pub struct Convergence;

impl Experiment for Convergence {
    fn name(&self) -> &'static str {
        "di_convergence"
    }

    fn build(&self, path: &Path, scale: Scale) -> Result<Pipeline, String> {
        let cfg: ConvergenceConfig =
            dinv_pipeline::load_pipeline_toml(path).map_err(|e| e.to_string())?;
        cfg.validate()
            .and_then(|()| build_from(&cfg, scale))
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConvergenceConfig {
    pipeline: PipelineHeader,
    layer: LayerSpec,
    integration: TimeGrid,
    #[serde(rename = "claim", default, skip_serializing_if = "Vec::is_empty")]
    claims: Vec<ClaimSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerSpec {
    d_in: usize,
    d_out: usize,
    half_widths: Vec<f64>,
    alphas: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeGrid {
    dt: f64,
    times: Vec<f64>,
}

/// The largest layer and the most Euler steps of one simulation: a typo must not hang a run.
const MAX_UNITS: usize = 2000;
const MAX_STEPS: f64 = 1e7;

impl ConvergenceConfig {
    fn validate(&self) -> Result<(), String> {
        self.pipeline.validate()?;
        let l = &self.layer;
        for (field, n) in [("layer.d_in", l.d_in), ("layer.d_out", l.d_out)] {
            if n == 0 || n > MAX_UNITS {
                return Err(format!("{field} = {n}: expected 1 to {MAX_UNITS} units"));
            }
        }
        for (field, list) in [
            ("layer.half_widths", &l.half_widths),
            ("layer.alphas", &l.alphas),
        ] {
            if list.is_empty() {
                return Err(format!("{field}: expected at least one value"));
            }
        }
        for h in &l.half_widths {
            check_positive("layer.half_widths", *h)?;
        }
        for a in &l.alphas {
            check_positive(
                "layer.alphas (a leak of 0 has no steady state to compare with)",
                *a,
            )?;
        }
        check_positive("integration.dt", self.integration.dt)?;
        if self.integration.times.is_empty() {
            return Err("integration.times: expected at least one simulated time".into());
        }
        for t in &self.integration.times {
            check_positive("integration.times", *t)?;
            if t / self.integration.dt > MAX_STEPS {
                return Err(format!(
                    "integration.times: {t} is {} Euler steps of dt = {}; at most {MAX_STEPS:e}",
                    t / self.integration.dt,
                    self.integration.dt
                ));
            }
        }
        let names: Vec<String> = models(&self.layer).into_iter().map(|m| m.0).collect();
        let names = names.iter().map(String::as_str);
        crate::claim::validate_claims(&self.claims, &[RUN], names, [FIGURE])
    }
}

/// The figure's id (and file stem).
const FIGURE: &str = "convergence";

/// (name, label, half-width, α) of every model, scale-major.
fn models(l: &LayerSpec) -> Vec<(String, String, f64, f64)> {
    l.half_widths
        .iter()
        .flat_map(|h| {
            l.alphas
                .iter()
                .map(move |a| (format!("h{h}-a{a}"), format!("α={a}, W ~ U(±{h})"), *h, *a))
        })
        .collect()
}

fn metric(what: &str, t: f64) -> String {
    format!("{what}_at_t{t}")
}

fn build_from(cfg: &ConvergenceConfig, scale: Scale) -> Result<Pipeline, String> {
    let name = &cfg.pipeline.name;
    let mut graph = Graph::new();
    let mut seeds = Vec::new();
    for seed in cfg.pipeline.seeds.at(scale) {
        let id = StageId::new(name, "simulate").in_run(RUN).for_seed(seed);
        let params = SeedParams {
            layer: cfg.layer.clone(),
            integration: cfg.integration.clone(),
        };
        graph
            .add(StageSpec::of(id.clone(), params).with_master_seed(seed))
            .map_err(|e| e.to_string())?;
        seeds.push(id.to_string());
    }
    let models_meta: Map<String, Value> = models(&cfg.layer)
        .into_iter()
        .map(|(n, label, _, a)| (n, json!({ "label": label, "method": "di", "alpha": a })))
        .collect();
    let summary_params = SummaryParams {
        title: cfg.pipeline.title.clone(),
        models: Value::Object(models_meta),
        model_order: models(&cfg.layer).into_iter().map(|m| m.0).collect(),
        captions: json!({ FIGURE: "DI's hidden error after a finite Euler simulation from rest (Algorithm 1) against its steady state, NDI's closed form (Eq. 10), over the simulated time: the angle between them (top) and their distance relative to the steady state's norm (bottom); one column per weight scale, one line per leak α (median over seeds, band: interquartile range). The paper simulates to time 1000. Values at rounding level (below 1e-12) are drawn at 1e-12. The angle alone flatters a short simulation: early on DI's error already points roughly along B δ_l, while its norm still grows towards the steady state's." }),
        claims: crate::claim::claims_param(&cfg.claims),
    };
    let summary_id = StageId::new(name, "summary");
    graph
        .add(StageSpec::of(summary_id.clone(), summary_params).with_inputs(seeds.clone()))
        .map_err(|e| e.to_string())?;
    let figures_id = StageId::new(name, "figures");
    let figures_params = FiguresParams {
        pipeline: name.clone(),
        title: cfg.pipeline.title.clone(),
        layer: cfg.layer.clone(),
        integration: cfg.integration.clone(),
    };
    graph
        .add(StageSpec::of(figures_id.clone(), figures_params).with_inputs(seeds))
        .map_err(|e| e.to_string())?;
    Ok(Pipeline {
        name: name.clone(),
        title: cfg.pipeline.title.clone(),
        graph,
        summary_stage: summary_id.to_string(),
        figures_stage: figures_id.to_string(),
        full_data: Vec::new(),
    })
}

#[derive(Serialize)]
struct SeedParams {
    layer: LayerSpec,
    integration: TimeGrid,
}

impl Stage for SeedParams {
    const KIND: &'static str = "convergence_seed";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        seed_stage(self, ctx)
    }
}

/// One seed: for each model and time, the angle and relative distance between DI's
/// Euler iterate and NDI's closed form.
fn seed_stage(p: &SeedParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let mut rng = ctx.rng();
    let (d_in, d_out) = (p.layer.d_in, p.layer.d_out);
    let target: Vec<f64> = normal_mat(&mut rng, d_out, 1, 1.0).col_as_slice(0).to_vec();
    let mut out = Map::new();
    for h in &p.layer.half_widths {
        let w = uniform_mat(&mut rng, d_out, d_in, -h, *h);
        let b = w.transpose().to_owned() * faer::Scale(-1.0);
        for a in &p.layer.alphas {
            let ndi = ndi_inverse(w.as_ref(), b.as_ref(), *a, &target)
                .map_err(|e| StageError::msg(format!("NDI for h = {h}, α = {a}: {e}")))?;
            let system = LayerSystem {
                w: w.as_ref(),
                b: b.as_ref(),
                alpha: *a,
                dynamics: Dynamics::Linear,
                act: Activation::Linear,
                gprime: &[],
            };
            let mut m = Map::new();
            for t in &p.integration.times {
                let steps = (t / p.integration.dt).round().max(1.0) as usize;
                let int = Integration {
                    dt: p.integration.dt,
                    steps,
                    ..Integration::default()
                };
                let di = system.euler(&target, &int).delta;
                let gap: f64 = di
                    .iter()
                    .zip(&ndi)
                    .map(|(x, y)| (x - y).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let scale: f64 = ndi.iter().map(|y| y * y).sum::<f64>().sqrt();
                m.insert(metric("angle", *t), json!(angle_deg(&di, &ndi)));
                m.insert(metric("rel_error", *t), json!(gap / scale));
            }
            out.insert(format!("h{h}-a{a}"), Value::Object(m));
        }
    }
    ctx.write_json("summary", &json!({ "models": out }))
}

#[derive(Serialize)]
struct SummaryParams {
    title: String,
    models: Value,
    model_order: Vec<String>,
    captions: Value,
    /// The pipeline file's `[[claim]]`s, for the report (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<Value>,
}

impl Stage for SummaryParams {
    const KIND: &'static str = "convergence_summary";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        summary_stage(self, ctx)
    }
}

/// Mean, sd and seed values of every number, in the schema of `curves::summary`.
fn summary_stage(p: &SummaryParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let seeds: Vec<Value> = ctx
        .inputs()
        .iter()
        .map(|i| i.json("summary"))
        .collect::<Result<_, _>>()?;
    let (mut runs, mut values) = (Map::new(), Map::new());
    for model in &p.model_order {
        let first = seeds[0]
            .pointer(&format!("/models/{model}"))
            .and_then(Value::as_object);
        let (mut mean, mut per_seed) = (Map::new(), Map::new());
        for key in first
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let xs: Vec<f64> = seeds
                .iter()
                .filter_map(|s| {
                    s.pointer(&format!("/models/{model}/{key}"))
                        .and_then(Value::as_f64)
                })
                .collect();
            let n = xs.len() as f64;
            let mu = xs.iter().sum::<f64>() / n;
            mean.insert(key.clone(), json!(mu));
            if xs.len() > 1 {
                let var = xs.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (n - 1.0);
                mean.insert(format!("{key}_sd"), json!(var.sqrt()));
            }
            per_seed.insert(key, json!(xs));
        }
        runs.insert(model.clone(), Value::Object(mean));
        values.insert(model.clone(), Value::Object(per_seed));
    }
    let mut out = json!({
        "title": p.title,
        "figures": [FIGURE],
        "captions": p.captions,
        "seeds": seeds.len(),
        "models": p.models,
        "model_order": p.model_order,
        "runs": { RUN: runs },
        "seed_values": { RUN: values },
    });
    if let Some(c) = &p.claims {
        out["claims"] = c.clone();
    }
    ctx.write_json("summary", &out)
}

#[derive(Serialize)]
struct FiguresParams {
    pipeline: String,
    title: String,
    layer: LayerSpec,
    integration: TimeGrid,
}

impl Stage for FiguresParams {
    const KIND: &'static str = "convergence_figures";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        figures_stage(self, ctx)
    }
}

/// One column per weight scale: the angle (top) and the relative distance (bottom)
/// against the simulated time, a line per α.
fn figures_stage(p: &FiguresParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let seeds: Vec<Value> = ctx
        .inputs()
        .iter()
        .map(|i| i.json("summary"))
        .collect::<Result<_, _>>()?;
    let times = &p.integration.times;
    const COLOURS: [Rgb; 4] = [
        Rgb(0, 90, 160),
        Rgb(214, 39, 40),
        Rgb(230, 159, 0),
        Rgb(0, 150, 90),
    ];
    let rows = [
        ("angle", "angle to the steady state (degrees)", "angle"),
        (
            "rel_error",
            "‖δ_{DI} − δ_{NDI}‖ / ‖δ_{NDI}‖",
            "relative distance",
        ),
    ];
    let mut panels = Vec::new();
    for (what, y_label, title) in rows {
        for h in &p.layer.half_widths {
            let mut series = Vec::new();
            let mut bands = Vec::new();
            for (k, a) in p.layer.alphas.iter().enumerate() {
                let stats: Vec<(f64, f64, f64)> = times
                    .iter()
                    .map(|t| {
                        median_iqr(
                            seeds
                                .iter()
                                .filter_map(|s| {
                                    s.pointer(&format!("/models/h{h}-a{a}/{}", metric(what, *t)))
                                        .and_then(Value::as_f64)
                                })
                                // A log axis: values at rounding level are drawn at FLOOR.
                                .map(|v| v.max(FLOOR))
                                .collect(),
                        )
                    })
                    .collect();
                let colour = COLOURS[k % COLOURS.len()];
                series.push(
                    Series::new(
                        format!("α={a}"),
                        times.clone(),
                        stats.iter().map(|s| s.0).collect(),
                        colour,
                    )
                    .with_marker(dinv_figures::Marker::pick(k), 4)
                    .with_marker_spacing(1, 0.0),
                );
                bands.push(Band::new(
                    times.clone(),
                    stats.iter().map(|s| s.1).collect(),
                    stats.iter().map(|s| s.2).collect(),
                    colour,
                ));
            }
            panels.push(Panel::Lines(LinePanel {
                title: format!("{title}, W ~ U(±{h})"),
                x: Axis::log10("simulated time (dt × steps)"),
                y: Axis::log10(y_label),
                series,
                bands,
                legend: LegendPos::Best,
                ..LinePanel::default()
            }));
        }
    }
    let cols = p.layer.half_widths.len();
    let fig = Figure::new((rows.len(), cols), panels).with_title(&p.title);
    for stem in [FIGURE, p.pipeline.as_str()] {
        render(&fig, &ctx.staging_path(stem))
            .map_err(|e| StageError::msg(format!("rendering {stem}: {e}")))?;
    }
    Ok(())
}

/// Where a log axis draws values at rounding level (and exact zeros).
const FLOOR: f64 = 1e-12;

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed form the stage compares with is the Euler iteration's limit: after
    /// many time constants the angle is zero to rounding, after a fraction of one it is
    /// not (an independent check that the stage measures convergence, not noise).
    #[test]
    fn euler_reaches_ndi_after_many_time_constants_only() {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = dinv_pipeline::ChaCha8Rng::seed_from_u64(3);
        let w = uniform_mat(&mut rng, 4, 6, -0.5, 0.5);
        let b = w.transpose().to_owned() * faer::Scale(-1.0);
        let target = vec![1.0, -0.5, 0.25, 2.0];
        let alpha = 0.1;
        let ndi = ndi_inverse(w.as_ref(), b.as_ref(), alpha, &target).unwrap();
        let system = LayerSystem {
            w: w.as_ref(),
            b: b.as_ref(),
            alpha,
            dynamics: Dynamics::Linear,
            act: Activation::Linear,
            gprime: &[],
        };
        let at = |t: f64| {
            let int = Integration {
                dt: 0.1,
                steps: (t / 0.1) as usize,
                ..Integration::default()
            };
            angle_deg(&system.euler(&target, &int).delta, &ndi)
        };
        // Slowest rate ≥ α = 0.1: by t = 500 (50 time constants) e^{-50} is far below 1e-9.
        assert!(at(500.0) < 1e-6, "{}", at(500.0));
        assert!(at(1.0) > 1.0, "{}", at(1.0));
    }
}
