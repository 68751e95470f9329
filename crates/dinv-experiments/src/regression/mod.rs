//! Fig. 3: linear and nonlinear regression against a teacher (supp. 7.5.2–7.5.3), and,
//! beyond the paper, a measurement of its claim that dynamic inversion approximates
//! Gauss–Newton optimisation (section 4.3, supp. 7.2; [`gauss_newton`]).

pub mod analysis;
pub mod claims;
pub mod config;
mod data;
pub mod gauss_newton;
pub mod stages;
pub mod train;

use std::path::Path;

use dinv_pipeline::{Graph, StageId, StageSpec};

use crate::curves::figures;
use crate::curves::summary::SummaryParams;
use crate::experiment::{Experiment, Pipeline};
use crate::spec::Scale;
use crate::verdict::{Finding, PipelineSummary};
pub use config::RegressionConfig;

/// The regression experiment (Fig. 3 and its extensions).
pub struct Regression;

impl Experiment for Regression {
    fn name(&self) -> &'static str {
        "regression"
    }

    fn build(&self, path: &Path, scale: Scale) -> Result<Pipeline, String> {
        build(path, scale)
    }

    fn findings(&self, pipeline: &str, s: &PipelineSummary<'_>) -> Vec<Finding> {
        let mut f = match pipeline {
            "fig3_linear" => claims::fig3_linear(s),
            "fig3_nonlinear" => claims::fig3_nonlinear(s),
            _ => return Vec::new(),
        };
        f.extend(gauss_newton::gn_findings(pipeline, s));
        f
    }

    fn notes(&self, pipeline: &str, s: &PipelineSummary<'_>) -> Vec<String> {
        match pipeline {
            "fig3_nonlinear" => claims::nonlinear_notes(s),
            "ext_nonlinear_alpha" => claims::alpha_sweep_notes(s),
            "ext_nonlinear_bp_control" => claims::bp_control_notes(s),
            _ => Vec::new(),
        }
    }
}

/// Builds the stage graph of a regression pipeline file.
pub fn build(path: &Path, scale: Scale) -> Result<Pipeline, String> {
    let cfg: RegressionConfig =
        dinv_pipeline::load_pipeline_toml(path).map_err(|e| e.to_string())?;
    cfg.validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    build_from(cfg, scale).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn build_from(cfg: RegressionConfig, scale: Scale) -> Result<Pipeline, String> {
    let mut graph = Graph::new();
    let added = stages::add_stages(&cfg, scale, &mut graph)?;
    let name = cfg.pipeline.name.clone();
    let input_runs: Vec<String> = cfg
        .runs
        .iter()
        .flat_map(|r| {
            cfg.pipeline
                .seeds
                .at(scale)
                .into_iter()
                .map(move |_| r.name.clone())
        })
        .collect();
    // The summary and figures read the analyses, then the Gauss–Newton stages.
    let gn_runs: Vec<String> = added.gauss_newton.iter().map(|g| g.0.clone()).collect();
    let inputs: Vec<String> = added
        .analyses
        .iter()
        .cloned()
        .chain(added.gauss_newton.iter().map(|g| g.1.clone()))
        .collect();
    let summary_params = SummaryParams::of_curves(
        &cfg.pipeline.title,
        &cfg.figures,
        &cfg.models,
        &cfg.claims,
        input_runs.iter().chain(&gn_runs).cloned().collect(),
    );
    let summary_id = StageId::new(&name, "summary");
    graph
        .add(StageSpec::of(summary_id.clone(), summary_params).with_inputs(inputs.clone()))
        .map_err(|e| e.to_string())?;
    let figures_id = StageId::new(&name, "figures");
    let fp = figures::CurveFiguresParams {
        base: figures::FiguresParams {
            pipeline: name.clone(),
            title: cfg.pipeline.title.clone(),
            models: cfg.models.clone(),
            figures: cfg.figures.clone(),
            input_runs,
        },
        gauss_newton_runs: gn_runs,
    };
    graph
        .add(StageSpec::of(figures_id.clone(), fp).with_inputs(inputs))
        .map_err(|e| e.to_string())?;
    Ok(Pipeline {
        name,
        title: cfg.pipeline.title,
        graph,
        summary_stage: summary_id.to_string(),
        figures_stage: figures_id.to_string(),
        full_data: Vec::new(),
    })
}
