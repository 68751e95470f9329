//! Per-pipeline summary across runs and seeds.
//!
//! Schema of `summary.json` (one object per pipeline):
//!
//! ```text
//! { "title": "<pipeline title>", "figures": ["fig3a", …], "seeds": <number of seeds>,
//!   "models": { "<model>": { "label": "…", "method": "di", "alpha": 0.01 } },
//!   "model_order": ["BP", …],
//!   "runs": { "<run>": { "<model>": { "<metric>": mean over seeds,
//!                                     "<metric>_sd": sd (≥ 2 seeds) } } },
//!   "seed_values": { "<run>": { "<model>": { "<metric>": [value of each seed] } } },
//!   "claims": [ the pipeline file's [[claim]] tables, when it has any ] }
//! ```
//!
//! Metrics of every model: `final_nmse` (normalised error after the last example),
//! `final_sse`. Models with feedback: `final_angle_b_negwt_deg` (angle between `B` and
//! `−W^T` at the end). NDI/DI: `final_max_eig` (spectral abscissa of Eq. S9 at the end,
//! max over layers), `restabilisations`. DI: `mean_angle_di_ndi_deg`,
//! `mean_angle_di_pbp_deg`, `mean_angle_di_bp_deg` (angles between the error signals,
//! averaged over training and hidden layers), `mean_di_steps`. Runs with checkpoints,
//! every model (from the Gauss–Newton stages, see `gauss_newton.rs`): `mean_gn_angle_deg`,
//! `mean_gn_exact_angle_deg`, `mean_gn_white_angle_deg`, `mean_gn_grad_angle_deg`,
//! `mean_gn_kron_exact_angle_deg`, `mean_gn_delta_angle_deg` (means over the checkpoints
//! after step 0). Per-layer values carry an `_l<layer>` suffix when a network has several.
//! A metric's seed values are in input order, so the analyses and the Gauss–Newton
//! stages (both run-major, then seed) line up by seed.

use std::collections::BTreeMap;

use dinv_pipeline::{Stage, StageContext, StageError};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// The summary stage of the curve experiments (kind `curve_summary`, shared by every
/// experiment that uses it: one version per kind, bump it when what the stage computes
/// changes).
#[derive(Serialize)]
pub(crate) struct SummaryParams {
    pub title: String,
    pub figures: Vec<String>,
    /// Each figure's caption, by id (figures without one are absent); `None` for
    /// experiments that caption their figures elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captions: Option<BTreeMap<String, String>>,
    pub models: Value,
    pub model_order: Vec<String>,
    pub input_runs: Vec<String>,
    /// The pipeline file's `[[claim]]`s, passed on for the report (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<Value>,
}

impl SummaryParams {
    /// The summary of a curve pipeline (regression, classification): its figures with
    /// their captions, its models in file order, its `[[claim]]`s, over the inputs
    /// `input_runs` (one run name per input stage).
    pub fn of_curves(
        title: &str,
        figures: &[super::spec::FigureSpec],
        models: &[crate::spec::ModelSpec],
        claims: &[crate::claim::ClaimSpec],
        input_runs: Vec<String>,
    ) -> Self {
        SummaryParams {
            title: title.to_string(),
            figures: figures.iter().map(|f| f.id.clone()).collect(),
            captions: Some(super::spec::captions(figures)),
            models: super::model_meta(models),
            model_order: models.iter().map(|m| m.name.clone()).collect(),
            input_runs,
            claims: crate::claim::claims_param(claims),
        }
    }
}

impl Stage for SummaryParams {
    const KIND: &'static str = "curve_summary";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        summary_stage(self, ctx)
    }
}

fn summary_stage(p: &SummaryParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    // run → model → metric → values over seeds
    let mut acc: BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<f64>>>> = BTreeMap::new();
    for (input, run) in ctx.inputs().iter().zip(&p.input_runs) {
        let s = input.json("summary")?;
        let models = s.get("models").and_then(Value::as_object).ok_or_else(|| {
            StageError::msg(format!(
                "{}: summary.json has no `models` object",
                input.id()
            ))
        })?;
        for (model, metrics) in models {
            for (k, v) in metrics.as_object().into_iter().flatten() {
                if let Some(x) = v.as_f64() {
                    acc.entry(run.clone())
                        .or_default()
                        .entry(model.clone())
                        .or_default()
                        .entry(k.clone())
                        .or_default()
                        .push(x);
                }
            }
        }
    }
    let mut runs = Map::new();
    let mut seed_values = Map::new();
    let mut n_seeds = 0;
    for (run, models) in acc {
        let mut sv = Map::new();
        for (model, metrics) in &models {
            let mut m = Map::new();
            for (k, xs) in metrics {
                n_seeds = n_seeds.max(xs.len());
                m.insert(k.clone(), json!(xs));
            }
            sv.insert(model.clone(), Value::Object(m));
        }
        seed_values.insert(run.clone(), Value::Object(sv));
        let mut mo = Map::new();
        for (model, metrics) in models {
            let mut me = Map::new();
            for (k, xs) in metrics {
                let n = xs.len() as f64;
                let mean = xs.iter().sum::<f64>() / n;
                me.insert(k.clone(), json!(mean));
                if xs.len() > 1 {
                    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
                    me.insert(format!("{k}_sd"), json!(var.sqrt()));
                }
            }
            mo.insert(model, Value::Object(me));
        }
        runs.insert(run, Value::Object(mo));
    }
    let mut out = json!({
        "title": p.title,
        "figures": p.figures,
        "seeds": n_seeds,
        "models": p.models,
        "model_order": p.model_order,
        "runs": runs,
        "seed_values": seed_values,
    });
    if let Some(captions) = p.captions.as_ref().filter(|c| !c.is_empty()) {
        out["captions"] = json!(captions);
    }
    if let Some(claims) = &p.claims {
        out["claims"] = claims.clone();
    }
    ctx.write_json("summary", &out)?;
    Ok(())
}
