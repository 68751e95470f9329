//! Fig. 4a: online MNIST classification with a 784-1000-10 network (supp. 7.5.4), and
//! true dynamic inversion on MNIST (beyond the paper, which used NDI as a proxy).
//!
//! Metrics of this pipeline's entry in `summary.json` (run `online`, per model; the
//! schema is the curve experiments' one, see `curves/summary.rs`): `final_test_error`,
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

use std::fmt::Write as _;
use std::path::Path;

use dinv_pipeline::{Graph, StageId, StageSpec};

use crate::curves::figures;
use crate::curves::summary::SummaryParams;
use crate::experiment::{Experiment, Pipeline};
use crate::spec::Scale;
use crate::verdict::{num, sig, Finding, PipelineSummary, Verdict};
pub use config::ClassificationConfig;

/// The single training protocol's name in `summary.json`.
pub const RUN: &str = "online";

/// MNIST classification (Fig. 4a), its Fashion-MNIST extension and the offset
/// candidates.
pub struct Classification;

impl Experiment for Classification {
    fn name(&self) -> &'static str {
        "mnist_classification"
    }

    fn build(&self, path: &Path, scale: Scale) -> Result<Pipeline, String> {
        build(path, scale)
    }

    fn findings(&self, pipeline: &str, s: &PipelineSummary<'_>) -> Vec<Finding> {
        match pipeline {
            "fig4_mnist_classification" => claims(s),
            "ext_fashion_mnist_classification" => fashion_claims(s),
            "ext_mnist_offset_global_norm" | "ext_mnist_offset_l2_decay" => {
                offset_candidate_claims(s)
            }
            _ => Vec::new(),
        }
    }

    fn notes(&self, pipeline: &str, s: &PipelineSummary<'_>) -> Vec<String> {
        match pipeline {
            "fig4_mnist_classification" => notes(s),
            _ => Vec::new(),
        }
    }
}

pub fn build(path: &Path, scale: Scale) -> Result<Pipeline, String> {
    let cfg: ClassificationConfig =
        dinv_pipeline::load_pipeline_toml(path).map_err(|e| e.to_string())?;
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
    let summary_params = SummaryParams::of_curves(
        &cfg.pipeline.title,
        &cfg.figures,
        &cfg.models,
        &cfg.claims,
        input_runs.clone(),
    );
    let summary_id = StageId::new(&name, "summary");
    graph
        .add(StageSpec::of(summary_id.clone(), summary_params).with_inputs(analyses.clone()))
        .map_err(|e| e.to_string())?;
    let figures_id = StageId::new(&name, "figures");
    // Curves are recorded per example; "epochs" axes are scaled by the epoch length.
    let per_epoch = cfg.data.train_examples.at(scale) as f64;
    let mut figs = cfg.figures.clone();
    for f in figs
        .iter_mut()
        .filter(|f| f.x_label.as_deref() == Some("epochs") && f.x_per_unit.is_none())
    {
        f.x_per_unit = Some(per_epoch);
    }
    let fp = figures::CurveFiguresParams {
        base: figures::FiguresParams {
            pipeline: name.clone(),
            title: cfg.pipeline.title.clone(),
            models: cfg.models.clone(),
            figures: figs,
            input_runs,
        },
        gauss_newton_runs: Vec::new(),
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

/// The paper's final test errors (section 5.2): BP 1.9 %, FA 1.7 %, PBP and NDI 2.7 %.
const PAPER_ERRORS: &[(&str, f64)] = &[("bp", 1.9), ("fa", 1.7), ("pbp", 2.7), ("ndi", 2.7)];

/// A second published reference for the same 784-1000-10 network on MNIST: Lillicrap
/// et al. (2016, Nature Communications, "Random synaptic feedback weights support error
/// backpropagation for deep learning"), test error BP 2.4 %, FA 2.1 %.
const LILLICRAP_ERRORS: &[(&str, f64)] = &[("bp", 2.4), ("fa", 2.1)];

/// How far (points) a model's offset from the paper may lie from the offset common to
/// all models, for the gaps between models to count as reproduced: about three times
/// the seed sd of one model's final test error (≈ 0.1 points).
const GAP_TOLERANCE: f64 = 0.3;

/// A common offset beyond this many points is itself a failed reproduction of the
/// levels, whatever the gaps.
const MAX_COMMON_OFFSET: f64 = 1.0;

/// "Slightly worse", in points of test error (the paper's own gaps are 0.8–1.0).
const SLIGHTLY: f64 = 2.0;

fn pct(s: &PipelineSummary<'_>, model: &str, metric: &str) -> Option<f64> {
    s.metric(RUN, model, metric).map(|v| 100.0 * v)
}

/// A metric (in %) of every seed: the one seed when the summary is seen through one,
/// else each seed's value, else (no per-seed values recorded) the mean alone.
fn seed_pcts(s: &PipelineSummary<'_>, model: &str, metric: &str) -> Option<Vec<f64>> {
    let n = s.seeds() as usize;
    let recorded = s.seed.is_none()
        && n > 0
        && s.v
            .pointer(&format!("/seed_values/{RUN}/{model}/{metric}"))
            .is_some();
    if recorded {
        (0..n).map(|k| pct(&s.for_seed(k), model, metric)).collect()
    } else {
        pct(s, model, metric).map(|v| vec![v])
    }
}

/// Mean and, with two values or more, sample standard deviation.
fn mean_sd(v: &[f64]) -> (f64, Option<f64>) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, sd)
}

/// A difference in points with its sign, `+0.64`; `0.00` when it rounds to zero.
fn signed(v: f64) -> String {
    if v.abs() < 0.005 {
        "0.00".into()
    } else {
        format!("{v:+.2}")
    }
}

/// `+0.64 ± 0.05` (points), or `+0.64` from a single value.
fn signed_pm(v: &[f64]) -> String {
    match mean_sd(v) {
        (m, Some(sd)) => format!("{} ± {sd:.2}", signed(m)),
        (m, None) => signed(m),
    }
}

/// The method of a model (`bp`, `ndi`, ...), from the summary's model table.
fn method_of<'a>(s: &PipelineSummary<'a>, model: &str) -> &'a str {
    s.v.pointer(&format!("/models/{model}/method"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

/// A published value for a model's method.
fn reference(refs: &[(&str, f64)], method: &str) -> Option<f64> {
    refs.iter().find(|(m, _)| *m == method).map(|p| p.1)
}

/// Fig. 4a's levels, judged up to an offset common to all models: every model's final
/// test error minus the paper's, the mean of these offsets, and whether each lies
/// within [`GAP_TOLERANCE`] of it (so the gaps between models reproduce).
/// (label, final test error %, the paper's %) of every model the paper reports on.
fn final_errors_beside_paper<'a>(s: &PipelineSummary<'a>) -> Vec<(&'a str, f64, f64)> {
    s.models(&["bp", "fa", "pbp", "ndi"])
        .into_iter()
        .filter_map(|(n, l)| {
            let paper = reference(PAPER_ERRORS, method_of(s, n))?;
            Some((l, pct(s, n, "final_test_error")?, paper))
        })
        .collect()
}

fn levels_up_to_common_offset(s: &PipelineSummary<'_>) -> Finding {
    let rows = final_errors_beside_paper(s);
    let offsets: Vec<f64> = rows.iter().map(|(_, o, p)| o - p).collect();
    let claim = "Final test errors: BP 1.9 %, FA 1.7 %, PBP and NDI 2.7 %.";
    let criterion = format!(
        "the ordering and gaps, not the absolute levels: each model's offset from the paper within ±{GAP_TOLERANCE} points of the mean offset over models (then every gap between two models is within {} points of the paper's); a mean offset beyond ±{MAX_COMMON_OFFSET:.1} points makes it partly at best. The common offset is stated, and its candidate causes are listed under the table",
        2.0 * GAP_TOLERANCE
    );
    if rows.is_empty() {
        return Finding {
            figure: "4a".into(),
            claim: claim.into(),
            ours: String::new(),
            verdict: Verdict::NotRun,
            criterion,
        };
    }
    let (common, spread) = mean_sd(&offsets);
    let ok = offsets
        .iter()
        .filter(|o| (*o - common).abs() <= GAP_TOLERANCE)
        .count();
    let verdict = match Verdict::from_counts(ok, offsets.len()) {
        Verdict::Holds if common.abs() > MAX_COMMON_OFFSET => Verdict::Partly,
        v => v,
    };
    let largest = offsets
        .iter()
        .map(|o| (o - common).abs())
        .fold(0.0, f64::max);
    Finding {
        figure: "4a".into(),
        claim: claim.into(),
        ours: format!(
            "{}: a systematic offset of {} points common to all models (per-model offsets spread {} around it, largest deviation {largest:.2}); with it removed: {}",
            rows.iter()
                .zip(&offsets)
                .map(|((l, o, p), d)| format!("{l}: {o:.2} % (paper {p} %, {})", signed(*d)))
                .collect::<Vec<_>>()
                .join("; "),
            signed(common),
            spread.map_or("–".into(), |v| format!("sd {v:.2}")),
            rows.iter()
                .map(|(l, o, _)| format!("{l} {:.2} %", o - common))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        verdict,
        criterion,
    }
}

/// A model's final test error counts as the paper's when within this many points of it
/// (about twice the seed sd of one model's final error, ≈ 0.1 points).
const OFFSET_EXPLAINED: f64 = 0.2;

/// The claims of a pipeline that reruns Fig. 4a with one candidate cause of its common
/// offset changed (`ext_mnist_offset_*`): the offset vanishes, model by model.
pub fn offset_candidate_claims(s: &PipelineSummary<'_>) -> Vec<Finding> {
    let rows = final_errors_beside_paper(s);
    let ok = rows
        .iter()
        .filter(|(_, o, p)| (o - p).abs() <= OFFSET_EXPLAINED)
        .count();
    let offsets: Vec<f64> = rows.iter().map(|(_, o, p)| o - p).collect();
    vec![Finding {
        figure: "4a (offset)".into(),
        claim: format!(
            "{}: the change removes Fig. 4a's common offset, so each model's final test error is the paper's.",
            s.v.get("title").and_then(serde_json::Value::as_str).unwrap_or(s.name)
        )
        .into(),
        ours: if rows.is_empty() {
            String::new()
        } else {
            format!(
                "{}; mean offset {} points",
                rows.iter()
                    .map(|(l, o, p)| format!("{l}: {o:.2} % (paper {p} %, {})", signed(o - p)))
                    .collect::<Vec<_>>()
                    .join("; "),
                signed(mean_sd(&offsets).0)
            )
        },
        verdict: Verdict::from_counts(ok, rows.len()),
        criterion: format!("each model's final test error within ±{OFFSET_EXPLAINED} points of the paper's (Fig. 4a's own models lie about +0.44 points above it)"),
    }]
}

/// The second reference: our BP and FA beside Lillicrap et al. (2016).
fn lillicrap_reference(s: &PipelineSummary<'_>) -> Finding {
    let rows: Vec<(&str, f64, f64)> = s
        .models(&["bp", "fa"])
        .into_iter()
        .filter_map(|(n, l)| {
            let theirs = reference(LILLICRAP_ERRORS, method_of(s, n))?;
            Some((l, pct(s, n, "final_test_error")?, theirs))
        })
        .collect();
    let ok = rows.iter().filter(|(_, o, t)| (o - t).abs() <= 0.5).count();
    Finding {
        figure: "4a (ref.)".into(),
        claim: "(Second reference, not the paper) Lillicrap et al. 2016 (Nat. Commun., \"Random synaptic feedback weights support error backpropagation for deep learning\"), the same 784-1000-10 network on MNIST: BP 2.4 %, FA 2.1 % test error.".into(),
        ours: rows
            .iter()
            .map(|(l, o, t)| format!("{l}: {o:.2} % (Lillicrap et al. {t} %, {})", signed(o - t)))
            .collect::<Vec<_>>()
            .join("; "),
        verdict: Verdict::from_counts(ok, rows.len()),
        criterion: "our final test error within ±0.5 percentage points of theirs".into(),
    }
}

/// "PBP and NDI slightly worse than BP and FA", judged on paired differences: for each
/// inversion model and each of BP and FA, the difference of final test errors within
/// a seed (same initial weights, feedback draws and example order), its mean ± sd over
/// seeds, and in how many seeds it is positive.
fn inversions_behind_paired(s: &PipelineSummary<'_>) -> Finding {
    let first_order = s.models(&["bp", "fa"]);
    let mut parts = Vec::new();
    let (mut ok, mut total) = (0, 0);
    for (inv, il) in s.models(&["pbp", "ndi"]) {
        for (fo, fl) in &first_order {
            let (Some(a), Some(b)) = (
                seed_pcts(s, inv, "final_test_error"),
                seed_pcts(s, fo, "final_test_error"),
            ) else {
                continue;
            };
            if a.len() != b.len() {
                continue;
            }
            let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
            let positive = d.iter().filter(|v| **v > 0.0).count();
            let mean = mean_sd(&d).0;
            total += 1;
            if positive == d.len() && mean <= SLIGHTLY {
                ok += 1;
            }
            let paper = reference(PAPER_ERRORS, method_of(s, inv))
                .zip(reference(PAPER_ERRORS, method_of(s, fo)))
                .map_or(String::new(), |(p, q)| format!(", paper {:+.1}", p - q));
            parts.push(format!(
                "{il} − {fl}: {} ({positive}/{} seeds > 0{paper})",
                signed_pm(&d),
                d.len()
            ));
        }
    }
    Finding {
        figure: "4a".into(),
        claim: "All algorithms perform similarly, PBP and NDI slightly worse (possibly slower convergence).".into(),
        ours: format!(
            "paired difference of final test error within a seed (same initial weights, feedback and example order), points, mean ± sd over seeds: {}",
            parts.join("; ")
        ),
        verdict: Verdict::from_counts(ok, total),
        criterion: format!(
            "for each PBP/NDI model against each of BP and FA: the paired difference is positive in every seed, and its mean is at most {SLIGHTLY} points (\"slightly\")"
        ),
    }
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
        figure: figure.into(),
        claim: claim.into(),
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
    let mut out = vec![
        levels_up_to_common_offset(s),
        lillicrap_reference(s),
        inversions_behind_paired(s),
    ];
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
                "{l} after {} examples: {e_di:.2} % vs NDI {e_ndi:.2} % after as many (NDI after all {}: {}); angle δ_DI vs δ_NDI {}° on average, {}° at the end; Euler fallback {} of examples at the end; {} (NDI at its evaluations: {}){}",
                num(s, RUN, n, "examples_trained"),
                num(s, RUN, m, "examples_trained"),
                pct(s, m, "final_test_error").map_or("–".into(), |v| format!("{v:.2} %")),
                num(s, RUN, n, "mean_angle_di_ndi_deg"),
                num(s, RUN, n, "final_angle_di_ndi_deg"),
                num(s, RUN, n, "final_euler_fraction"),
                eigenvalue_checks(s, n),
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
        figure: "4a*".into(),
        claim: "(Beyond the paper) True DI (tanh dynamics, steady state) on MNIST performs like its NDI proxy.".into(),
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

/// DI's largest real eigenvalue of Eq. (S9): at every check (one before each example,
/// before any re-stabilisation) when the run logged its diagnostics, else at the
/// evaluations (after re-stabilisation).
fn eigenvalue_checks(s: &PipelineSummary<'_>, n: &str) -> String {
    if s.metric(RUN, n, "max_eig_checked").is_some() {
        format!(
            "largest real eigenvalue of DI's system at its {} stability checks (one before each example, before any re-stabilisation): mean {}, maximum {}, positive at {} checks",
            num(s, RUN, n, "stability_checks"),
            num(s, RUN, n, "mean_eig_checked"),
            num(s, RUN, n, "max_eig_checked"),
            num(s, RUN, n, "positive_checks"),
        )
    } else {
        format!(
            "largest real eigenvalue of DI's system at the evaluations {}",
            num(s, RUN, n, "max_eig_over_training")
        )
    }
}

/// Saturation counts as explaining a climbing error when the model's share of
/// saturated hidden units at the end exceeds the reference's by this factor and by
/// [`SATURATION_GAP`] at least.
const SATURATION_FACTOR: f64 = 1.5;
const SATURATION_GAP: f64 = 0.02;

/// Why DI's error climbs from its best, in the diagnostics' numbers: weight norm and
/// hidden saturation at the best test error and at the end, beside its NDI twin.
/// The verdict on saturation is given only when the error does climb (`climbs`).
fn climb_note(
    s: &PipelineSummary<'_>,
    (u, ul): (&str, &str),
    (ndi, nl): (&str, &str),
    climbs: bool,
) -> Option<String> {
    let get = |m: &str, k: &str| s.metric(RUN, m, k);
    let describe = |m: &str, l: &str| -> Option<String> {
        Some(format!(
            "{l}: best after {} examples; ‖W₁‖_F {} → {}, ‖W₂‖_F {} → {}, saturated hidden units {:.1} % → {:.1} % (mean g′ at the end {})",
            sig(get(m, "best_step")?),
            sig(get(m, "w1_norm_at_best")?),
            sig(get(m, "final_w1_norm")?),
            sig(get(m, "w2_norm_at_best")?),
            sig(get(m, "final_w2_norm")?),
            100.0 * get(m, "saturated_at_best")?,
            100.0 * get(m, "final_saturated")?,
            sig(get(m, "final_mean_gprime")?),
        ))
    };
    let (du, dn) = (describe(u, ul)?, describe(ndi, nl)?);
    let (su, sn) = (get(u, "final_saturated")?, get(ndi, "final_saturated")?);
    let verdict = if !climbs {
        String::new()
    } else if su > SATURATION_FACTOR * sn && su - sn >= SATURATION_GAP {
        format!("DI's hidden layer ends far more saturated than NDI's ({:.1} % against {:.1} % of units with g′ < {}, i.e. |h| > 0.99): without the g′(a₁) factor its error signal keeps driving units that are already saturated, where NDI's update is silenced, and its first-layer weights keep growing.", 100.0 * su, 100.0 * sn, train::SATURATED_BELOW)
    } else {
        format!("Saturation does not separate them ({:.1} % against {:.1} % of units with g′ < {}; the criterion is {SATURATION_FACTOR}× and {} points more), so the climb is not explained by saturation.", 100.0 * su, 100.0 * sn, train::SATURATED_BELOW, 100.0 * SATURATION_GAP)
    };
    Some(
        format!(
            "Diagnostics, seed means, from the best test error to the end: {du}; {dn}. {verdict}"
        )
        .trim_end()
        .to_string(),
    )
}

/// The summary records no `gprime_after` flag (adding one would change the summary
/// stage's cache key), so the DI model gated by g′(a₁) is recognised by its label.
const GATED_LABEL: &str = "g′ after";

/// Findings in prose under Fig. 4a's table, generated from the summary: the offset
/// common to all models, and what the gated DI model says about DI vs NDI.
pub fn notes(s: &PipelineSummary<'_>) -> Vec<String> {
    [offset_note(s), di_note(s)].into_iter().flatten().collect()
}

/// Every model's offset from the paper, its candidate causes (an open question), and
/// the second reference.
fn offset_note(s: &PipelineSummary<'_>) -> Option<String> {
    let models = s.models(&["bp", "fa", "pbp", "ndi"]);
    let offsets = |metric: &str| -> Vec<(&str, f64)> {
        models
            .iter()
            .filter_map(|(n, l)| {
                let paper = reference(PAPER_ERRORS, method_of(s, n))?;
                Some((*l, pct(s, n, metric)? - paper))
            })
            .collect()
    };
    let finals = offsets("final_test_error");
    if finals.is_empty() {
        return None;
    }
    let values: Vec<f64> = finals.iter().map(|o| o.1).collect();
    let (common, spread) = mean_sd(&values);
    let seed_sds: Vec<f64> = models
        .iter()
        .filter_map(|(n, _)| pct(s, n, "final_test_error_sd"))
        .collect();
    let list = |o: &[(&str, f64)]| {
        o.iter()
            .map(|(l, d)| format!("{l} {}", signed(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let common_to_all = values.iter().all(|o| (o - common).abs() <= GAP_TOLERANCE);
    let mut text = format!(
        "{}: {} points on average over models ({}){}{}. {}",
        if common_to_all {
            "**A systematic offset.** Every model's final test error differs from the paper's by about the same amount"
        } else {
            "**Offsets from the paper.** The models' final test errors differ from the paper's by different amounts"
        },
        signed(common),
        list(&finals),
        spread.map_or(String::new(), |v| format!(
            "; the per-model offsets spread by sd {v:.2} around it"
        )),
        match (
            seed_sds.iter().copied().reduce(f64::min),
            seed_sds.iter().copied().reduce(f64::max)
        ) {
            (Some(lo), Some(hi)) =>
                format!(", against a seed sd of one model's final error of {lo:.2}–{hi:.2} points"),
            _ => String::new(),
        },
        if common_to_all {
            format!("An offset common to all models (each within ±{GAP_TOLERANCE} points of the mean) leaves the paper's ordering and gaps in place, so the first 4a row judges those and states the offset, and the paired differences judge \"slightly worse\". ")
        } else {
            format!("Some offsets lie more than ±{GAP_TOLERANCE} points from their mean, so the gaps between models do not reproduce either. ")
        },
    );
    let best = offsets("best_test_error");
    let decayed = s
        .models(&["bp"])
        .first()
        .and_then(|(n, _)| s.metric(RUN, n, "examples_trained"))
        .map(|e| {
            format!(
                ", which compounds to a factor {:.2} over our {} updates",
                (-1e-6 * e).exp(),
                sig(e)
            )
        })
        .unwrap_or_default();
    let _ = write!(
        text,
        "The offset's cause is an open question; the candidates we know of: (1) normalisation: we subtract each pixel's mean and scale the variance over all pixels to 1 (the paper's text, supp. 7.5.4), the authors' code one global mean and standard deviation; (2) the weight-decay form: we follow the authors' code, `W += η ΔW − 1e-6 W`, whose decay is not scaled by the learning rate (every weight shrinks by 1e-6 per update{decayed}), while the paper states only \"a weight decay of 10⁻⁶\", which read as an L2 coefficient scaled by η = 10⁻³ would be a thousand times weaker; (3) the evaluation protocol: the paper does not say where on the curve its final error is read (the code evaluates every 1000 examples, we 4 times per epoch, the final value after the last example){}. The pipelines `ext_mnist_offset_global_norm` and `ext_mnist_offset_l2_decay` test (1) and (2) one at a time, each in its own section with a verdict.",
        if best.is_empty() {
            String::new()
        } else {
            let b: Vec<f64> = best.iter().map(|o| o.1).collect();
            format!(
                "; our best test errors over training lie {} points from the paper's on average ({})",
                signed(mean_sd(&b).0),
                list(&best)
            )
        }
    );
    let lillicrap: Vec<(&str, f64)> = s
        .models(&["bp", "fa"])
        .iter()
        .filter_map(|(n, l)| {
            let theirs = reference(LILLICRAP_ERRORS, method_of(s, n))?;
            Some((*l, pct(s, n, "final_test_error")? - theirs))
        })
        .collect();
    if !lillicrap.is_empty() {
        let _ = write!(
            text,
            " A second reference for the same 784-1000-10 network, Lillicrap et al. (2016, Nat. Commun.), reports BP 2.4 % and FA 2.1 %, themselves +0.5 and +0.4 points from the paper's 1.9 % and 1.7 %; our BP and FA differ from theirs by {}.",
            list(&lillicrap)
        );
    }
    Some(text)
}

/// What the DI model gated by g′(a₁) shows: DI's tanh inversion matches NDI, and the
/// gap between DI (Eq. 15) and NDI is the missing g′(a₁) factor.
fn di_note(s: &PipelineSummary<'_>) -> Option<String> {
    let di = s.models(&["di"]);
    let (gated, plain): (Vec<_>, Vec<_>) = di.iter().partition(|(_, l)| l.contains(GATED_LABEL));
    let (&(g, gl), &(u, ul)) = (gated.first()?, plain.first()?);
    let (ndi, nl) = s
        .models(&["ndi"])
        .into_iter()
        .find(|(m, _)| (s.alpha(m) - s.alpha(u)).abs() < 1e-15 && s.alpha(g) == s.alpha(u))?;
    let err = |m: &str| pct(s, m, "final_test_error");
    let (e_u, e_g, e_n) = (err(u)?, err(g)?, err(ndi)?);
    let angle_g = s.metric(RUN, g, "mean_angle_di_ndi_deg")?;
    let pm = |m: &str, metric: &str| num(s, RUN, m, metric);
    let pct_pm =
        |m: &str, metric: &str| match (pct(s, m, metric), pct(s, m, &format!("{metric}_sd"))) {
            (Some(v), Some(sd)) => format!("{v:.2} ± {sd:.2} %"),
            (Some(v), None) => format!("{v:.2} %"),
            _ => "–".into(),
        };
    let paired = match (
        seed_pcts(s, g, "final_test_error"),
        seed_pcts(s, ndi, "final_test_error"),
    ) {
        (Some(a), Some(b)) if a.len() == b.len() && a.len() > 1 => format!(
            " (paired with NDI within a seed: {} points)",
            signed_pm(&a.iter().zip(&b).map(|(x, y)| x - y).collect::<Vec<_>>())
        ),
        _ => String::new(),
    };
    let gated_matches = angle_g < 1.0 && (e_g - e_n).abs() <= 0.3;
    let plain_behind = e_u - e_n > 0.3;
    let mut text = format!(
        "**True DI vs its NDI proxy on MNIST.** DI as Eq. (15) defines it ({ul}: the steady state `B u`, no g′(a₁) factor) ends at {} test error against {} for {nl}, its hidden error {}° from NDI's on average ({}° at the end). The same DI with its steady state multiplied by g′(a₁) afterwards ({gl}) ends at {}{paired}, its hidden error {}° from NDI's on average ({}° at the end). ",
        pct_pm(u, "final_test_error"),
        pct_pm(ndi, "final_test_error"),
        pm(u, "mean_angle_di_ndi_deg"),
        pm(u, "final_angle_di_ndi_deg"),
        pct_pm(g, "final_test_error"),
        pm(g, "mean_angle_di_ndi_deg"),
        pm(g, "final_angle_di_ndi_deg"),
    );
    if gated_matches && plain_behind {
        text.push_str(
            "So the tanh dynamics invert as NDI's closed form does, and the whole gap between DI and NDI is the g′(a₁) factor that Eq. (15)'s steady state lacks. This contradicts the paper's statement (sec. 4.2) that with DI \"the derivative of the nonlinear transfer function does not need to be applied, as it is implicitly incorporated in the inversion\". ",
        );
    } else if !gated_matches {
        text.push_str("Gating by g′(a₁) does not make DI match NDI here (criterion: under 1° and within 0.3 points), so the DI–NDI gap is not the g′(a₁) factor alone. ");
    }
    if let Some(v) = s.metric(RUN, u, "mean_angle_euler_vs_solver_deg") {
        let _ = write!(
            text,
            "{} DI's steady state agrees with the paper's 10000 Euler steps of dt = 0.1 to {}° on average. ",
            if plain_behind {
                "The solver is not the cause: where checked,"
            } else {
                "Where checked,"
            },
            sig(v)
        );
    }
    if s.metric(RUN, u, "restabilisations")
        .is_some_and(|k| k > 0.0)
    {
        let _ = write!(
            text,
            "SSA re-stabilisation did not close the gap: {ul}'s B₂ was re-stabilised {} times (whenever the largest eigenvalue of Eq. (S9) turned positive; {gl}: {}), and its largest eigenvalue ends at {} (NDI: {}). ",
            pm(u, "restabilisations"),
            pm(g, "restabilisations"),
            pm(u, "final_max_eig"),
            pm(ndi, "final_max_eig"),
        );
        if s.metric(RUN, u, "max_eig_checked").is_some() {
            let _ = write!(text, "{ul}, {}. ", eigenvalue_checks(s, u));
        }
    }
    if let Some(b) = pct(s, u, "best_test_error") {
        let _ = write!(
            text,
            "{ul}'s test error {} its best over training: best {}, final {} ({gl}: best {}, final {}).",
            if e_u > b + 0.3 { "ends above" } else { "ends near" },
            pct_pm(u, "best_test_error"),
            pct_pm(u, "final_test_error"),
            pct_pm(g, "best_test_error"),
            pct_pm(g, "final_test_error"),
        );
        if let Some(c) = climb_note(s, (u, ul), (ndi, nl), e_u > b + 0.3) {
            let _ = write!(text, " {c}");
        }
    }
    Some(text.trim_end().to_string())
}
