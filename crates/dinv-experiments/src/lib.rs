//! # dinv-experiments: the paper's experiments as pipeline stages
//!
//! Each file in `pipelines/` declares one experiment (`[pipeline] experiment = ...`);
//! this crate turns it into a [`dinv_pipeline::Graph`] of seeded, cached stages:
//! data → one training stage per model variant → analysis → summary and figures.
//! The report (`paper/REPRODUCTION.md`) is written from the summaries.
//!
//! **Invariant:** figures and summaries read analysis outputs only, never training
//! internals; every random number comes from a stage's own seeded stream.

pub mod autoencoder;
pub mod classification;
pub mod mnist_data;
pub mod regression;
pub mod report;
pub mod spec;
pub mod tables;
pub mod tsne;

use std::path::{Path, PathBuf};

use dinv_pipeline::Graph;
use serde::Deserialize;

pub use spec::Scale;

/// One pipeline file turned into stages.
pub struct Pipeline {
    pub name: String,
    pub title: String,
    pub graph: Graph,
    /// Stage whose `summary.json` holds the pipeline's key numbers.
    pub summary_stage: String,
    /// Stage whose outputs are the pipeline's figures (PNG + SVG).
    pub figures_stage: String,
    /// Datasets the pipeline reads in full at this scale (none when it reads only the
    /// shipped subsets or synthetic data): `cargo xtask reproduce` fetches them first.
    pub full_data: Vec<&'static dinv_data::mnist::DatasetSpec>,
}

#[derive(Deserialize)]
struct Probe {
    pipeline: ProbeHeader,
}

#[derive(Deserialize)]
struct ProbeHeader {
    experiment: String,
}

/// The experiments this crate knows, by the name used in `[pipeline] experiment`.
pub const EXPERIMENTS: &[&str] = &["regression", "mnist_classification", "mnist_autoencoder"];

/// Reads a pipeline file and builds its stages for `scale`. Errors name the file and
/// the offending key.
pub fn load_pipeline(path: &Path, scale: Scale) -> Result<Pipeline, String> {
    let probe: Probe = dinv_pipeline::load_toml(path).map_err(|e| e.to_string())?;
    match probe.pipeline.experiment.as_str() {
        "regression" => regression::build(path, scale),
        "mnist_classification" => classification::build(path, scale),
        "mnist_autoencoder" => autoencoder::build(path, scale),
        other => Err(format!(
            "{}: unknown experiment `{other}` in [pipeline] experiment; expected one of: {}",
            path.display(),
            EXPERIMENTS.join(", ")
        )),
    }
}

/// All `*.toml` files of a folder, sorted by name.
pub fn pipeline_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read pipeline folder {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}
