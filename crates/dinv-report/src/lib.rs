//! # dinv-report: claims, verdicts and the literate report
//!
//! Reads pipeline summaries (`summary.json`) and nothing else: the verdict vocabulary
//! ([`verdict`]: a claim, our numbers, a verdict and its criterion), claims written as
//! data in a pipeline file ([`claim`]: `[[claim]]` tables judged seed by seed), and the
//! report that places every figure beside the paper's claims ([`render`]).
//!
//! **Invariant:** this crate knows no experiment (it does not depend on
//! dinv-experiments). Claims that need code are judged by whoever implements
//! [`Judges`]: the experiments' registry, passed in by the caller.

pub mod claim;
mod render;
pub mod verdict;

pub use render::{render, render_with_timings, EXTENSION_PREFIX};
use verdict::{Finding, PipelineSummary};

/// Whoever judges in code the claims of a pipeline, and writes its findings in prose
/// (the experiments' registry, in dinv-experiments).
pub trait Judges {
    /// The claims about pipeline `pipeline` judged in code, from its summary.
    fn findings(&self, pipeline: &str, s: &PipelineSummary<'_>) -> Vec<Finding>;
    /// Findings in prose under the pipeline's table.
    fn notes(&self, pipeline: &str, s: &PipelineSummary<'_>) -> Vec<String>;
}

/// Judges no claim in code: the report then shows only the claims declared as data.
pub struct NoJudges;

impl Judges for NoJudges {
    fn findings(&self, _: &str, _: &PipelineSummary<'_>) -> Vec<Finding> {
        Vec::new()
    }
    fn notes(&self, _: &str, _: &PipelineSummary<'_>) -> Vec<String> {
        Vec::new()
    }
}
