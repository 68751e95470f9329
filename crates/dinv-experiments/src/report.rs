//! The literate report: each reproduced figure beside the paper's claims about it,
//! with our numbers and a verdict. The report is a pure function of the summary
//! (`summary.json`), so a committed report can be checked against the committed
//! summary it was generated from.

use std::fmt::Write as _;

use serde_json::Value;

use crate::spec::Scale;

/// Whether our numbers support a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    Partly,
    DoesNotHold,
    /// The numbers needed are missing (experiment not run at this scale).
    NotRun,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Partly => "partly",
            Verdict::DoesNotHold => "does not hold",
            Verdict::NotRun => "not run",
        }
    }

    /// `Holds` if all, `DoesNotHold` if none, `Partly` otherwise.
    pub fn from_counts(ok: usize, total: usize) -> Verdict {
        match (ok, total) {
            (_, 0) => Verdict::NotRun,
            (k, n) if k == n => Verdict::Holds,
            (0, _) => Verdict::DoesNotHold,
            _ => Verdict::Partly,
        }
    }
}

/// One claim checked against our numbers.
pub struct Finding {
    pub figure: &'static str,
    pub claim: &'static str,
    pub ours: String,
    pub verdict: Verdict,
    /// The criterion used, so a reader can disagree with it.
    pub criterion: String,
}

/// Read access to one pipeline's summary.
pub struct PipelineSummary<'a> {
    pub name: &'a str,
    pub v: &'a Value,
}

impl<'a> PipelineSummary<'a> {
    /// Models (name, label) of a method, in summary order.
    pub fn models(&self, methods: &[&str]) -> Vec<(&'a str, &'a str)> {
        let Some(m) = self.v.get("models").and_then(Value::as_object) else {
            return Vec::new();
        };
        m.iter()
            .filter(|(_, meta)| {
                meta.get("method")
                    .and_then(Value::as_str)
                    .is_some_and(|x| methods.contains(&x))
            })
            .map(|(name, meta)| {
                (
                    name.as_str(),
                    meta.get("label").and_then(Value::as_str).unwrap_or(name),
                )
            })
            .collect()
    }

    pub fn alpha(&self, model: &str) -> f64 {
        self.v
            .pointer(&format!("/models/{model}/alpha"))
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    }

    pub fn metric(&self, run: &str, model: &str, metric: &str) -> Option<f64> {
        self.v
            .get("runs")?
            .get(run)?
            .get(model)?
            .get(metric)?
            .as_f64()
    }

    pub fn seeds(&self) -> u64 {
        self.v.get("seeds").and_then(Value::as_u64).unwrap_or(0)
    }
}

/// Formats a number for the report: 3 significant digits, `±sd` when several seeds ran.
pub fn num(s: &PipelineSummary<'_>, run: &str, model: &str, metric: &str) -> String {
    match s.metric(run, model, metric) {
        None => "–".into(),
        Some(v) => {
            let base = sig(v);
            match s.metric(run, model, &format!("{metric}_sd")) {
                Some(sd) => format!("{base} ± {}", sig(sd)),
                None => base,
            }
        }
    }
}

/// Three significant digits.
pub fn sig(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if (-3..4).contains(&mag) {
        let decimals = (2 - mag).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.2e}")
    }
}

/// Fig. 3a–f (section 5.1, linear regression).
fn fig3_linear(s: &PipelineSummary<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let all = s.models(&["bp", "fa", "pbp", "ndi", "di"]);
    let di = s.models(&["di"]);
    let inv = s.models(&["pbp", "ndi", "di"]);
    let first_order = s.models(&["bp", "fa"]);
    let list = |run: &str, models: &[(&str, &str)], metric: &str| {
        models
            .iter()
            .map(|(n, l)| format!("{l}: {}", num(s, run, n, metric)))
            .collect::<Vec<_>>()
            .join("; ")
    };

    let ok = all
        .iter()
        .filter(|(n, _)| {
            s.metric("fixed_lr", n, "final_nmse")
                .is_some_and(|v| v < 1e-2)
        })
        .count();
    out.push(Finding {
        figure: "3a",
        claim: "All algorithms solve this simple task with ease.",
        ours: format!(
            "final normalised error: {}",
            list("fixed_lr", &all, "final_nmse")
        ),
        verdict: Verdict::from_counts(ok, all.len()),
        criterion: "final normalised error < 1e-2 for every model".into(),
    });

    let slowest_first_order = first_order
        .iter()
        .filter_map(|(n, _)| s.metric("fixed_norm", n, "mean_log10_nmse"))
        .fold(f64::INFINITY, f64::min);
    let ok = inv
        .iter()
        .filter(|(n, _)| {
            s.metric("fixed_norm", n, "mean_log10_nmse")
                .is_some_and(|v| v < slowest_first_order)
        })
        .count();
    out.push(Finding {
        figure: "3b",
        claim: "With fixed-norm updates, DI, NDI and PBP converge faster than BP and FA.",
        ours: format!(
            "mean log10 error over training: {}",
            list(
                "fixed_norm",
                &s.models(&["bp", "fa", "pbp", "ndi", "di"]),
                "mean_log10_nmse"
            )
        ),
        verdict: Verdict::from_counts(ok, inv.len()),
        criterion: "mean log10 normalised error of each of PBP/NDI/DI below that of both BP and FA"
            .into(),
    });

    let ok = di
        .iter()
        .filter(|(n, _)| {
            s.metric("fixed_lr", n, "final_max_eig")
                .is_some_and(|v| v < 0.0)
        })
        .count();
    out.push(Finding {
        figure: "3c",
        claim: "DI remains stable throughout training (variability only in the first ~100 examples).",
        ours: format!(
            "final max eigenvalue: {}; re-stabilisations: {}",
            list("fixed_lr", &di, "final_max_eig"),
            list("fixed_lr", &di, "restabilisations")
        ),
        verdict: Verdict::from_counts(ok, di.len()),
        criterion: "spectral abscissa of Eq. (S9) negative at the end of training (SSA re-stabilises whenever it turns positive)".into(),
    });

    let leaky: Vec<(&str, &str)> = di
        .iter()
        .copied()
        .filter(|(n, _)| s.alpha(n) > 0.0)
        .collect();
    let ok = leaky
        .iter()
        .filter(|(n, _)| {
            s.metric("fixed_lr", n, "mean_angle_di_ndi_deg")
                .is_some_and(|v| v < 10.0)
        })
        .count();
    out.push(Finding {
        figure: "3d",
        claim: "DI's updates are well aligned with NDI's.",
        ours: format!("mean angle δ_DI vs δ_NDI (degrees): {}", list("fixed_lr", &di, "mean_angle_di_ndi_deg")),
        verdict: Verdict::from_counts(ok, leaky.len()),
        criterion: "mean angle below 10° for every DI model with α > 0 (α = 0 converges too slowly in 10000 steps, as the paper notes for Fig. 3i)".into(),
    });

    let fb = s.models(&["ndi", "di"]);
    let ok = fb
        .iter()
        .filter(|(n, _)| {
            s.metric("fixed_lr", n, "final_angle_b_negwt_deg")
                .is_some_and(|v| (30.0..=60.0).contains(&v))
        })
        .count();
    out.push(Finding {
        figure: "3e",
        claim: "The angle between B and −Wᵀ settles around 45° for all DI and NDI models.",
        ours: format!(
            "final angle (degrees): {}",
            list("fixed_lr", &fb, "final_angle_b_negwt_deg")
        ),
        verdict: Verdict::from_counts(ok, fb.len()),
        criterion: "final angle within 45 ± 15°".into(),
    });

    let ok = di
        .iter()
        .filter(|(n, _)| {
            s.metric("fixed_lr", n, "mean_angle_di_pbp_deg")
                .is_some_and(|v| v < 30.0)
        })
        .count();
    out.push(Finding {
        figure: "3f",
        claim: "DI's updates are also aligned with PBP's.",
        ours: format!(
            "mean angle δ_DI vs δ_PBP (degrees): {}",
            list("fixed_lr", &di, "mean_angle_di_pbp_deg")
        ),
        verdict: Verdict::from_counts(ok, di.len()),
        criterion: "mean angle below 30°".into(),
    });
    out
}

/// The claims of each pipeline, by pipeline name.
fn findings(name: &str, s: &PipelineSummary<'_>) -> Vec<Finding> {
    match name {
        "fig3_linear" => fig3_linear(s),
        _ => Vec::new(),
    }
}

/// Renders the whole report from a merged summary (`pipeline name → summary`).
pub fn render(summary: &Value, scale: Scale) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Reproduction report: Podlaski & Machens (NeurIPS 2020)\n"
    );
    let _ = writeln!(
        md,
        "*Biological credit assignment through dynamic inversion of feedforward networks.* \
         Generated by `cargo xtask reproduce --scale {scale}` from `summary.json`; do not edit by hand. \
         Figures: PNG, with SVG beside each.\n"
    );
    if scale == Scale::Smoke {
        let _ = writeln!(
            md,
            "> **Smoke scale**: a few hundred examples per run, for CI. Verdicts at this scale say \
             little about the paper; see `paper/REPRODUCTION.md` for the paper-scale report.\n"
        );
    }
    let Some(pipelines) = summary.as_object() else {
        let _ = writeln!(md, "No results yet.");
        return md;
    };
    for (name, v) in pipelines {
        let s = PipelineSummary { name, v };
        let title = v.get("title").and_then(Value::as_str).unwrap_or(name);
        let _ = writeln!(md, "## {title}\n");
        let _ = writeln!(md, "![{name}](figures/{name}.png)\n");
        if let Some(figs) = v.get("figures").and_then(Value::as_array) {
            let links: Vec<String> = figs
                .iter()
                .filter_map(Value::as_str)
                .map(|f| format!("[{f}](figures/{f}.png) ([svg](figures/{f}.svg))"))
                .collect();
            let _ = writeln!(md, "Panels: {}. Seeds: {}.\n", links.join(", "), s.seeds());
        }
        let found = findings(name, &s);
        if !found.is_empty() {
            let _ = writeln!(
                md,
                "| Fig. | Paper's claim | Our numbers | Verdict | Criterion |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|");
            for f in &found {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | **{}** | {} |",
                    f.figure,
                    f.claim,
                    f.ours,
                    f.verdict.text(),
                    f.criterion
                );
            }
            let _ = writeln!(md);
        }
    }
    md
}
