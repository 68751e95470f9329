//! Fig. 4b–d: an MNIST autoencoder (784-500-250-30-250-500-784, tanh-tanh-linear-
//! tanh-tanh-linear) trained on mini-batches with BP, FA, PBP and NDI, each from random
//! and from orthogonal initial weights (section 5.2, supp. 7.5.5).
//!
//! The paper's claim is that the inversion methods carry second-order information:
//! they learn from small random weights, where BP needs orthogonal ones. Where the
//! paper is silent we follow the authors' `mnist_autoencoding.py`: "random" weights are
//! `U(−0.01, 0.01)` (the paper says "random Gaussian"), weight decay is
//! `W ← (1 − λ) W − η ΔW` per update, biases start at zero. Deliberate differences:
//! 25 epochs as in the paper (the code runs 20) and FA's feedback `U(−0.5, 0.5)` as in
//! the other tasks (the code draws `U(−0.01, 0.01)`).
//!
//! Schema of this pipeline's entry in `summary.json` (one run, `train`):
//!
//! ```text
//! { "title": …, "figures": ["fig4b", "fig4c", "fig4d"], "seeds": <n>,
//!   "models": { "<model>": { "label", "method", "alpha", "init",
//!                            "feedback_half_width" (uniform feedback only) } },
//!   "model_order": [...],
//!   "runs": { "train": { "<model>": { "<metric>": mean over seeds, "<metric>_sd": sd } } },
//!   "seed_values": { "train": { "<model>": { "<metric>": [value of each seed] } } },
//!   "baselines": { "pca_components": <code width>,
//!                  "train": { "zeros", "mean_image", "pca" }, "test": { … } } }
//! ```
//!
//! Metrics: `initial_mse_per_pixel`, `mse_per_pixel_epoch1` (after the first epoch),
//! `final_mse_per_pixel` (training set, mean squared error per pixel),
//! `final_sse_per_image` (training set, per-image sum of squared errors as in Hinton &
//! Salakhutdinov 2006), `final_test_mse_per_pixel`; for the models of Fig. 4c–d
//! `tsne_kl_divergence` of their code embedding and `code_knn_accuracy` (leave-one-out
//! 5-NN accuracy of the digit labels from the codes); `collapsed` (1 when the final
//! training error is within 2 % of the mean-image baseline, else 0; its mean is the
//! fraction of seeds that collapsed). Baselines: per-pixel MSE of outputting zeros, the mean
//! training image, and the projection onto the training images' leading principal
//! components, on the training and the test images (see `baselines.rs`).

pub mod analysis;
pub mod baselines;
mod claims;
mod codes;
pub mod config;
pub mod figures;
pub mod stages;
mod summary;
pub mod train;
pub mod weights;

use std::path::Path;

use dinv_pipeline::{Graph, StageId, StageSpec};
use serde_json::{json, Map, Value};

use crate::experiment::{Experiment, Pipeline};
use crate::spec::Scale;
use crate::verdict::{Finding, PipelineSummary};
pub use config::AutoencoderConfig;

/// The single training protocol's name in `summary.json`.
pub const RUN: &str = "train";

/// The MNIST autoencoder (Fig. 4b–d).
pub struct Autoencoder;

impl Experiment for Autoencoder {
    fn name(&self) -> &'static str {
        "mnist_autoencoder"
    }

    fn build(&self, path: &Path, scale: Scale) -> Result<Pipeline, String> {
        build(path, scale)
    }

    fn findings(&self, pipeline: &str, s: &PipelineSummary<'_>) -> Vec<Finding> {
        match pipeline {
            "fig4_mnist_autoencoder" => claims::claims(s),
            _ => Vec::new(),
        }
    }
}

/// Reads an autoencoder pipeline file and builds its stages for `scale`.
pub fn build(path: &Path, scale: Scale) -> Result<Pipeline, String> {
    let cfg: AutoencoderConfig =
        dinv_pipeline::load_pipeline_toml(path).map_err(|e| e.to_string())?;
    cfg.validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    build_from(cfg, scale).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn build_from(cfg: AutoencoderConfig, scale: Scale) -> Result<Pipeline, String> {
    let mut graph = Graph::new();
    let stages::Added {
        analyses,
        baselines,
    } = stages::add_stages(&cfg, scale, &mut graph)?;
    let name = cfg.pipeline.name.clone();
    let runs_id = StageId::new(&name, "runs");
    let runs_params = crate::curves::summary::SummaryParams {
        title: cfg.pipeline.title.clone(),
        figures: figures::FIGURES.iter().map(|f| f.to_string()).collect(),
        captions: None,
        models: model_meta(&cfg),
        model_order: cfg.models.iter().map(|m| m.name.clone()).collect(),
        input_runs: analyses.iter().map(|_| RUN.to_string()).collect(),
        claims: crate::claim::claims_param(&cfg.claims),
    };
    let summary_id = StageId::new(&name, "summary");
    graph
        .add(StageSpec::of(runs_id.clone(), runs_params).with_inputs(analyses.clone()))
        .map_err(|e| e.to_string())?;
    graph
        .add(
            StageSpec::of(summary_id.clone(), summary::BaselinesSummary)
                .with_inputs([runs_id.to_string(), baselines]),
        )
        .map_err(|e| e.to_string())?;
    let figures_id = StageId::new(&name, "figures");
    let side = (cfg.network.dims[0] as f64).sqrt().round() as usize;
    let fp = figures::FiguresParams {
        pipeline: name.clone(),
        title: cfg.pipeline.title.clone(),
        models: cfg.models.clone(),
        detail: cfg.detail.models.clone(),
        image_side: side,
    };
    graph
        .add(StageSpec::of(figures_id.clone(), fp).with_inputs(analyses))
        .map_err(|e| e.to_string())?;
    let full_data = match cfg.data.source.at(scale) {
        crate::mnist_data::Source::Full => vec![cfg.data.dataset.full_spec()],
        crate::mnist_data::Source::Subset => Vec::new(),
    };
    Ok(Pipeline {
        name,
        title: cfg.pipeline.title,
        graph,
        summary_stage: summary_id.to_string(),
        figures_stage: figures_id.to_string(),
        full_data,
    })
}

/// Label, method, leak and initialisation of every model (the report reads them).
fn model_meta(cfg: &AutoencoderConfig) -> Value {
    let mut m = Map::new();
    for model in &cfg.models {
        let mut meta = json!({
            "label": model.label,
            "method": model.method,
            "alpha": model.alpha,
            "init": model.init.name(),
        });
        // FA's feedback scale, so the claims can judge each scale on its own.
        if let Some(dinv_core::FeedbackInit::Uniform { half_width }) = &model.feedback {
            meta["feedback_half_width"] = json!(half_width);
        }
        m.insert(model.name.clone(), meta);
    }
    Value::Object(m)
}

/// Section 5.2's claims about Fig. 4b–d, with their criteria.
pub fn claims(s: &PipelineSummary<'_>) -> Vec<Finding> {
    claims::claims(s)
}
