//! Fig. 4a: online MNIST classification with a 784-1000-10 network (supp. 7.5.4), and
//! true dynamic inversion on MNIST (beyond the paper, which used NDI as a proxy).
//!
//! Metrics of this pipeline's entry in `summary.json` (run `online`, per model; the
//! schema is the regression one, see `regression/summary.rs`): `final_test_error`,
//! `best_test_error`, `final_test_loss`, `final_train_error_online` (fractions, not %),
//! `examples_trained`, `test_error_at_di_budget` (after DI's last example, when DI
//! trains for fewer epochs); with feedback `final_angle_b_negwt_deg`; NDI/DI
//! `final_max_eig`, `max_eig_over_training` (spectral abscissa of Eq. S9); DI
//! `mean_angle_di_ndi_deg`, `final_angle_di_ndi_deg`, `mean_di_steps`,
//! `euler_fraction`, `final_euler_fraction` (share of examples where Newton found no
//! fixed point and Euler ran), `mean_angle_euler_vs_ndi_deg`, `mean_angle_euler_vs_solver_deg`,
//! `restabilisations` (SSA runs on `B_2`; the NDI reference of DI's angles uses DI's
//! own, re-stabilised `B_2`).

pub mod config;
pub mod stages;
pub mod train;

use std::path::Path;
use std::sync::Arc;

use dinv_pipeline::{Graph, StageSpec};
use serde_json::json;

use crate::regression::{figures, model_meta, summary};
use crate::report::{num, Finding, PipelineSummary, Verdict};
use crate::spec::Scale;
use crate::Pipeline;
pub use config::ClassificationConfig;

const SUMMARY_VERSION: u32 = 2;
const FIGURES_VERSION: u32 = 2;
/// The single training protocol's name in `summary.json`.
pub const RUN: &str = "online";

pub fn build(path: &Path, scale: Scale) -> Result<Pipeline, String> {
    let cfg: ClassificationConfig = dinv_pipeline::load_toml(path).map_err(|e| e.to_string())?;
    cfg.validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    build_from(cfg, scale).map_err(|e| format!("{}: {e}", path.display()))
}

/// Builds the stages of an already validated configuration.
pub fn build_from(cfg: ClassificationConfig, scale: Scale) -> Result<Pipeline, String> {
    let mut graph = Graph::new();
    let analyses = stages::add_stages(&cfg, scale, &mut graph)?;
    let name = cfg.pipeline.name.clone();
    let input_runs: Vec<String> = analyses.iter().map(|_| RUN.to_string()).collect();
    let summary_id = format!("{name}/summary");
    graph
        .add(
            StageSpec::new(
                &summary_id,
                "regression_summary",
                SUMMARY_VERSION,
                Arc::new(summary::summary_stage),
            )
            .with_params(json!({
                "title": cfg.pipeline.title,
                "figures": cfg.figures.iter().map(|f| f.id.clone()).collect::<Vec<_>>(),
                "captions": crate::regression::config::captions(&cfg.figures),
                "models": model_meta(&cfg.models),
                "model_order": cfg.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
                "input_runs": input_runs,
            }))
            .with_inputs(analyses.clone()),
        )
        .map_err(|e| e.to_string())?;
    let figures_id = format!("{name}/figures");
    // Curves are recorded per example; "epochs" axes are scaled by the epoch length.
    let per_epoch = cfg.data.train_examples.at(scale) as f64;
    let mut figs = cfg.figures.clone();
    for f in figs
        .iter_mut()
        .filter(|f| f.x_label.as_deref() == Some("epochs") && f.x_per_unit.is_none())
    {
        f.x_per_unit = Some(per_epoch);
    }
    let fp = figures::FiguresParams {
        pipeline: name.clone(),
        title: cfg.pipeline.title.clone(),
        models: cfg.models.clone(),
        figures: figs,
        input_runs,
    };
    graph
        .add(
            StageSpec::new(
                &figures_id,
                "regression_figures",
                FIGURES_VERSION,
                Arc::new(figures::figures_stage),
            )
            .with_params(json!(fp))
            .with_inputs(analyses),
        )
        .map_err(|e| e.to_string())?;
    let full_data = match cfg.data.source.at(scale) {
        crate::mnist_data::Source::Full => vec![cfg.data.dataset.full_spec()],
        crate::mnist_data::Source::Subset => Vec::new(),
    };
    Ok(Pipeline {
        name,
        title: cfg.pipeline.title,
        graph,
        summary_stage: summary_id,
        figures_stage: figures_id,
        full_data,
    })
}

/// The paper's final test errors (section 5.2): BP 1.9 %, FA 1.7 %, PBP and NDI 2.7 %.
const PAPER_ERRORS: &[(&str, f64)] = &[("bp", 1.9), ("fa", 1.7), ("pbp", 2.7), ("ndi", 2.7)];

fn pct(s: &PipelineSummary<'_>, model: &str, metric: &str) -> Option<f64> {
    s.metric(RUN, model, metric).map(|v| 100.0 * v)
}

/// The finding "PBP and NDI end above the better of BP and FA" (and, with `slack`, by at
/// most that many percentage points), listing every model's final test error.
fn inversions_slightly_behind(
    s: &PipelineSummary<'_>,
    figure: &'static str,
    claim: &'static str,
    slack: Option<f64>,
) -> Finding {
    let first = s
        .models(&["bp", "fa"])
        .iter()
        .filter_map(|(n, _)| pct(s, n, "final_test_error"))
        .fold(f64::INFINITY, f64::min);
    let inv = s.models(&["pbp", "ndi"]);
    let ok = inv
        .iter()
        .filter(|(n, _)| {
            pct(s, n, "final_test_error")
                .is_some_and(|v| v > first && slack.is_none_or(|d| v - first <= d))
        })
        .count();
    Finding {
        figure,
        claim,
        ours: format!(
            "final test error (%): {}",
            s.models(&["bp", "fa", "pbp", "ndi", "di"])
                .iter()
                .map(|(n, l)| format!(
                    "{l}: {}",
                    pct(s, n, "final_test_error")
                        .map(|v| format!("{v:.2}"))
                        .unwrap_or("–".into())
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        verdict: Verdict::from_counts(ok, inv.len()),
        criterion: match slack {
            None => "each PBP/NDI model's final error above the better of BP and FA".into(),
            Some(d) => format!(
                "each PBP/NDI model's final error above the better of BP and FA, by at most {d} points"
            ),
        },
    }
}

/// Beyond the paper: Fig. 4a's protocol on Fashion-MNIST, which has no published
/// numbers. The paper's MNIST conclusion is judged on the harder dataset, with "slightly"
/// made explicit as at most 2 points.
pub fn fashion_claims(s: &PipelineSummary<'_>) -> Vec<Finding> {
    vec![inversions_slightly_behind(
        s,
        "4a*",
        "(Beyond the paper) On Fashion-MNIST as on MNIST: all algorithms perform similarly, PBP and NDI slightly worse.",
        Some(2.0),
    )]
}

/// Section 5.2's claims about Fig. 4a, and ours about DI on MNIST.
pub fn claims(s: &PipelineSummary<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let paper_models = s.models(&["bp", "fa", "pbp", "ndi"]);
    let method_of = |name: &str| {
        s.v.pointer(&format!("/models/{name}/method"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut ok = 0;
    let mut parts = Vec::new();
    for (n, l) in &paper_models {
        let ours = pct(s, n, "final_test_error");
        let paper = PAPER_ERRORS
            .iter()
            .find(|(m, _)| *m == method_of(n))
            .map(|p| p.1);
        if let (Some(o), Some(p)) = (ours, paper) {
            if (o - p).abs() <= 0.5 {
                ok += 1;
            }
            parts.push(format!("{l}: {o:.2} % (paper {p} %)"));
        }
    }
    out.push(Finding {
        figure: "4a",
        claim: "Final test errors: BP 1.9 %, FA 1.7 %, PBP and NDI 2.7 %.",
        ours: parts.join("; "),
        verdict: Verdict::from_counts(ok, parts.len()),
        criterion: "our final test error within ±0.5 percentage points of the paper's".into(),
    });
    out.push(inversions_slightly_behind(
        s,
        "4a",
        "All algorithms perform similarly, PBP and NDI slightly worse (possibly slower convergence).",
        None,
    ));
    // Beyond the paper: true DI on MNIST, compared with its NDI proxy after the same
    // number of examples (DI may train for fewer epochs than the others).
    let di = s.models(&["di"]);
    let mut pairs = Vec::new();
    for (n, l) in &di {
        let alpha = s.alpha(n);
        let twin = s
            .models(&["ndi"])
            .into_iter()
            .find(|(m, _)| (s.alpha(m) - alpha).abs() < 1e-15);
        let examples = |m: &str| s.metric(RUN, m, "examples_trained");
        // NDI's error after DI's number of examples: recorded when DI trained for fewer
        // epochs, otherwise its final error (same budget).
        let ndi_at_budget = |m: &str| {
            pct(s, m, "test_error_at_di_budget")
                .or_else(|| (examples(m) == examples(n)).then(|| pct(s, m, "final_test_error"))?)
        };
        let Some((m, _)) = twin else { continue };
        if let (Some(e_di), Some(e_ndi)) = (pct(s, n, "final_test_error"), ndi_at_budget(m)) {
            let holds = (e_di - e_ndi).abs() <= 0.3;
            pairs.push((format!(
                "{l} after {} examples: {e_di:.2} % vs NDI {e_ndi:.2} % after as many (NDI after all {}: {}); angle δ_DI vs δ_NDI {}° on average, {}° at the end; Euler fallback {} of examples at the end; largest real eigenvalue of DI's system over training {} (NDI: {}){}",
                num(s, RUN, n, "examples_trained"),
                num(s, RUN, m, "examples_trained"),
                pct(s, m, "final_test_error").map_or("–".into(), |v| format!("{v:.2} %")),
                num(s, RUN, n, "mean_angle_di_ndi_deg"),
                num(s, RUN, n, "final_angle_di_ndi_deg"),
                num(s, RUN, n, "final_euler_fraction"),
                num(s, RUN, n, "max_eig_over_training"),
                num(s, RUN, m, "max_eig_over_training"),
                match s.metric(RUN, n, "restabilisations") {
                    Some(k) if k > 0.0 => format!(
                        "; B_2 re-stabilised by SSA {} times (whenever the eigenvalue turned positive; checkpoints fall between an update and the next check)",
                        num(s, RUN, n, "restabilisations")
                    ),
                    _ if s.metric(RUN, n, "max_eig_over_training").is_some_and(|v| v > 0.0) => {
                        " — positive: DI's dynamics turned unstable during training (no re-stabilisation configured)".into()
                    }
                    _ => String::new(),
                },
            ), holds));
        }
    }
    // One row per DI model (Eq. 15's signal, and gated by g' where configured), so each
    // gets its own verdict; one "not run" row when there is none.
    let finding = |ours: String, verdict| {
        Finding {
        figure: "4a*",
        claim: "(Beyond the paper) True DI (tanh dynamics, steady state) on MNIST performs like its NDI proxy.",
        ours,
        verdict,
        criterion: "DI's test error within ±0.3 points of the NDI model with the same α, after the same number of examples".into(),
    }
    };
    if pairs.is_empty() {
        out.push(finding(String::new(), Verdict::from_counts(0, 0)));
    }
    for (text, holds) in pairs {
        out.push(finding(text, Verdict::from_counts(usize::from(holds), 1)));
    }
    out
}
