//! What an experiment kind is to the rest of the crate: it turns a pipeline file of its
//! kind into a [`Pipeline`] of stages, and judges the claims that need code. The kinds
//! are registered in [`crate::EXPERIMENTS`].

use std::path::Path;

use dinv_pipeline::Graph;

use crate::spec::Scale;
use crate::verdict::{Finding, PipelineSummary};

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

/// One kind of experiment, selected by `[pipeline] experiment = "<name>"`: it turns a
/// pipeline file of its kind into stages, and judges in code the claims that need more
/// than the comparisons a pipeline file can declare (`[[claim]]`, see [`crate::claim`]).
/// Adding a kind is one module that implements this and one line in [`crate::EXPERIMENTS`].
pub trait Experiment: Sync {
    /// The name used in `[pipeline] experiment`.
    fn name(&self) -> &'static str;
    /// Reads a pipeline file of this kind and builds its stages for `scale`. Errors
    /// name the file and the offending key.
    fn build(&self, path: &Path, scale: Scale) -> Result<Pipeline, String>;
    /// The claims about pipeline `pipeline` (a pipeline of this kind) judged in code,
    /// from its summary; none by default.
    fn findings(&self, _pipeline: &str, _s: &PipelineSummary<'_>) -> Vec<Finding> {
        Vec::new()
    }
    /// Findings in prose for the report, under the pipeline's table; none by default.
    fn notes(&self, _pipeline: &str, _s: &PipelineSummary<'_>) -> Vec<String> {
        Vec::new()
    }
}
