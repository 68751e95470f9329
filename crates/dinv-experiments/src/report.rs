//! The report of these experiments: dinv-report's rendering, with the registry of
//! experiment kinds ([`crate::EXPERIMENTS`]) judging the claims that need code.

use dinv_report::verdict::{Finding, PipelineSummary};
use dinv_report::Judges;
use serde_json::Value;

use crate::spec::Scale;

pub use dinv_report::EXTENSION_PREFIX;

/// Every registered experiment kind, as the report's judge.
pub struct Registry;

impl Judges for Registry {
    fn findings(&self, pipeline: &str, s: &PipelineSummary<'_>) -> Vec<Finding> {
        crate::EXPERIMENTS
            .iter()
            .flat_map(|e| e.findings(pipeline, s))
            .collect()
    }

    fn notes(&self, pipeline: &str, s: &PipelineSummary<'_>) -> Vec<String> {
        crate::EXPERIMENTS
            .iter()
            .flat_map(|e| e.notes(pipeline, s))
            .collect()
    }
}

/// Renders the whole report from a merged summary (`pipeline name → summary`).
pub fn render(summary: &Value, scale: Scale) -> String {
    dinv_report::render(summary, scale, &Registry)
}

/// [`render`] with the stage timings, when available.
pub fn render_with_timings(summary: &Value, timings: Option<&Value>, scale: Scale) -> String {
    dinv_report::render_with_timings(summary, timings, scale, &Registry)
}
