//! # dinv-experiments: the paper's experiments as pipeline stages
//!
//! Each file in `pipelines/` declares one experiment (`[pipeline] experiment = ...`);
//! this crate turns it into a [`dinv_pipeline::Graph`] of seeded, cached stages:
//! data → one training stage per model variant → analysis → summary and figures.
//! The report (`paper/REPRODUCTION.md`) is written from the summaries by dinv-report;
//! [`report`] hands it this crate's registry, which judges the claims that need code.
//!
//! **Invariant:** figures and summaries read analysis outputs only, never training
//! internals; every random number comes from a stage's own seeded stream.

pub mod autoencoder;
mod checkpoint;
pub mod classification;
pub mod convergence;
pub mod curves;
pub mod experiment;
pub mod mnist_data;
pub mod regression;
pub mod report;
pub mod spec;
pub mod style;
pub mod tables;
pub mod tsne;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use dinv_report::{claim, verdict};
pub use experiment::{Experiment, Pipeline};
pub use spec::Scale;

#[derive(Deserialize)]
struct Probe {
    pipeline: ProbeHeader,
}

#[derive(Deserialize)]
struct ProbeHeader {
    experiment: String,
}

/// Every experiment kind this crate knows, registered once.
pub const EXPERIMENTS: &[&dyn Experiment] = &[
    &regression::Regression,
    &classification::Classification,
    &autoencoder::Autoencoder,
    &convergence::Convergence,
];

/// Reads a pipeline file and builds its stages for `scale`. Errors name the file and
/// the offending key.
pub fn load_pipeline(path: &Path, scale: Scale) -> Result<Pipeline, String> {
    let probe: Probe = dinv_pipeline::load_pipeline_toml(path).map_err(|e| e.to_string())?;
    let kind = probe.pipeline.experiment.as_str();
    match EXPERIMENTS.iter().find(|e| e.name() == kind) {
        Some(e) => e.build(path, scale),
        None => Err(format!(
            "{}: unknown experiment `{kind}` in [pipeline] experiment; expected one of: {}",
            path.display(),
            EXPERIMENTS
                .iter()
                .map(|e| e.name())
                .collect::<Vec<_>>()
                .join(", ")
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

/// The pipelines of a folder that a run selects, and what was skipped.
pub struct Selection {
    /// The loaded pipelines, in file-name order.
    pub pipelines: Vec<Pipeline>,
    /// Files left out because `only` does not select them and they could not be read
    /// (each names the file, and line and column where known).
    pub warnings: Vec<String>,
}

/// Whether `--only` pattern `pattern` (a pipeline name or a stage-id prefix such as
/// `fig3_linear/fixed_lr`) can select stages of pipeline `name`: the same segment rule
/// as [`dinv_pipeline::Graph::select`].
pub fn pattern_selects(pattern: &str, name: &str) -> bool {
    let p = pattern.trim_end_matches('/');
    !p.is_empty()
        && (p == name || (p.starts_with(name) && p.as_bytes().get(name.len()) == Some(&b'/')))
}

/// Loads the pipeline files of `dir` for `scale`. Without `only`, every file: any that
/// fails to load is an error (all failures are listed, each naming file, line and
/// column where known). With `only`, just the files whose `[pipeline] name` (probed
/// leniently first, see [`dinv_pipeline::config::probe_string`]) a pattern can select:
/// errors in those are errors, while an unselected file that is not valid TOML, or
/// whose name cannot be read, only gives a warning. Unselected files are not
/// validated further.
pub fn load_selected(dir: &Path, scale: Scale, only: &[String]) -> Result<Selection, String> {
    let files = pipeline_files(dir)?;
    if files.is_empty() {
        return Err(format!("no pipeline files (*.toml) in {}", dir.display()));
    }
    let mut pipelines = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    // Names of the pipelines not selected, to list when nothing is.
    let mut others = Vec::new();
    for f in files {
        if only.is_empty() {
            match load_pipeline(&f, scale) {
                Ok(p) => pipelines.push(p),
                Err(e) => errors.push(e),
            }
            continue;
        }
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                warnings.push(format!("skipping {}: cannot read it: {e}", f.display()));
                continue;
            }
        };
        match dinv_pipeline::config::probe_string(&text, &["pipeline", "name"]) {
            Some(name) if only.iter().any(|o| pattern_selects(o, &name)) => {
                match load_pipeline(&f, scale) {
                    Ok(p) => pipelines.push(p),
                    Err(e) => errors.push(e),
                }
            }
            Some(name) => {
                others.push(name);
                // Not selected: only its syntax is checked, to warn about it.
                if let Err(e) = dinv_pipeline::parse_toml::<serde::de::IgnoredAny>(&text, &f) {
                    warnings.push(format!("skipping a file --only does not select: {e}"));
                }
            }
            None => match load_pipeline(&f, scale) {
                Ok(p) if only.iter().any(|o| pattern_selects(o, &p.name)) => pipelines.push(p),
                Ok(p) => others.push(p.name),
                Err(e) => warnings.push(format!(
                    "skipping a file whose [pipeline] name cannot be read: {e}"
                )),
            },
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    if pipelines.is_empty() && !only.is_empty() {
        others.sort();
        return Err(format!(
            "--only {}: selects no pipeline in {}; its pipelines are: {} (a pattern is a \
             pipeline name or a stage-id prefix such as `fig3_linear/fixed_lr`)",
            only.join(" "),
            dir.display(),
            others.join(", ")
        ));
    }
    Ok(Selection {
        pipelines,
        warnings,
    })
}
