//! The report is a pure function of the summary: the committed paper-scale report
//! must be what the committed summary renders to, and verdicts must follow the numbers.

mod common;

use common::workspace;
use dinv_experiments::report::{render, render_with_timings};
use dinv_experiments::Scale;
use serde_json::{json, Value};

#[test]
fn committed_report_matches_committed_summary() {
    let dir = workspace().join("paper");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let report = std::fs::read_to_string(dir.join("REPRODUCTION.md")).unwrap();
    let timings: Option<Value> = std::fs::read_to_string(dir.join("timings.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    assert!(
        render_with_timings(&summary, timings.as_ref(), Scale::Paper) == report,
        "paper/REPRODUCTION.md is stale: run `cargo xtask report --scale paper` (or `cargo xtask reproduce`) and commit it"
    );
    // Every figure the report links to is committed.
    for fig in summary
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p["figures"].as_array().cloned().unwrap_or_default())
    {
        let stem = fig.as_str().unwrap();
        for ext in ["png", "svg"] {
            assert!(
                dir.join("figures").join(format!("{stem}.{ext}")).exists(),
                "missing paper/figures/{stem}.{ext}"
            );
        }
    }
}

fn linear_summary(di_angle: f64) -> Value {
    json!({ "fig3_linear": {
        "title": "t", "figures": [], "seeds": 1,
        "models": {
            "DI-a": { "label": "DI a", "method": "di", "alpha": 0.01 },
            "DI-b": { "label": "DI b", "method": "di", "alpha": 0.001 },
        },
        "model_order": ["DI-b", "DI-a"],
        "runs": { "fixed_lr": {
            "DI-a": { "settled_angle_di_ndi_deg": di_angle },
            "DI-b": { "settled_angle_di_ndi_deg": 1.0 },
        } }
    } })
}

fn verdict_of(md: &str, figure: &str) -> String {
    md.lines()
        .find(|l| l.starts_with(&format!("| {figure} |")))
        .and_then(|l| l.split("**").nth(1))
        .unwrap_or("")
        .to_string()
}

/// Verdicts follow the numbers and the stated criterion.
#[test]
fn verdicts_follow_the_numbers() {
    let md = render(&linear_summary(2.0), Scale::Paper);
    assert_eq!(verdict_of(&md, "3d"), "holds");
    let md = render(&linear_summary(40.0), Scale::Paper);
    assert_eq!(verdict_of(&md, "3d"), "partly");
    // Models are listed in the pipeline's order, not alphabetically.
    let line = md.lines().find(|l| l.starts_with("| 3d |")).unwrap();
    assert!(
        line.find("DI b").unwrap() < line.find("DI a").unwrap(),
        "{line}"
    );
    // Missing numbers give "not run", never a made-up verdict.
    let md = render(
        &json!({ "fig3_linear": { "title": "t", "models": {}, "runs": {} } }),
        Scale::Paper,
    );
    assert_eq!(verdict_of(&md, "3d"), "not run");
}

/// With several seeds, each claim is also judged on every seed alone.
#[test]
fn claims_are_counted_per_seed() {
    let mut s = linear_summary(2.0);
    s["fig3_linear"]["seeds"] = json!(2);
    s["fig3_linear"]["seed_values"] = json!({ "fixed_lr": {
        "DI-a": { "settled_angle_di_ndi_deg": [1.0, 30.0] },
        "DI-b": { "settled_angle_di_ndi_deg": [1.0, 1.0] },
    } });
    let md = render(&s, Scale::Paper);
    let line = md.lines().find(|l| l.starts_with("| 3d |")).unwrap();
    assert!(line.contains("| 1/2 |"), "{line}");
}

/// A claim the seed means meet but fewer than half of the seeds meet alone is not
/// robust: "partly", not "holds". Half or more keeps "holds".
#[test]
fn claims_held_by_a_minority_of_seeds_are_partly() {
    let with_seeds = |a: [f64; 3]| {
        let mut s = linear_summary(2.0);
        s["fig3_linear"]["seeds"] = json!(3);
        s["fig3_linear"]["figures"] = json!(["fig3d"]);
        s["fig3_linear"]["seed_values"] = json!({ "fixed_lr": {
            "DI-a": { "settled_angle_di_ndi_deg": a },
            "DI-b": { "settled_angle_di_ndi_deg": [1.0, 1.0, 1.0] },
        } });
        render(&s, Scale::Paper)
    };
    // The caption under the panel states the same verdict as the table.
    let caption = |md: &str| {
        md.lines()
            .find(|l| l.starts_with("- **fig3d**:"))
            .unwrap_or_else(|| panic!("no caption for fig3d:\n{md}"))
            .to_string()
    };
    let md = with_seeds([1.0, 30.0, 30.0]);
    assert_eq!(verdict_of(&md, "3d"), "partly");
    assert!(caption(&md).ends_with("**partly**."), "{}", caption(&md));
    let line = md.lines().find(|l| l.starts_with("| 3d |")).unwrap();
    assert!(line.contains("| 1/3 |"), "{line}");
    let md = with_seeds([1.0, 1.0, 30.0]);
    assert_eq!(verdict_of(&md, "3d"), "holds");
    assert!(caption(&md).ends_with("**holds**."), "{}", caption(&md));
}

/// The Fashion-MNIST extension judges "PBP and NDI slightly worse than BP and FA" with
/// "slightly" bounded at 2 points: below the best of BP/FA, or more than 2 points above
/// it, does not count.
#[test]
fn fashion_claim_bounds_slightly_worse() {
    let fashion = |pbp: f64, ndi: f64| {
        json!({ "ext_fashion_mnist_classification": {
            "title": "t", "figures": [], "seeds": 1,
            "models": {
                "BP": { "label": "BP", "method": "bp", "alpha": 0.0 },
                "FA": { "label": "FA", "method": "fa", "alpha": 0.0 },
                "PBP": { "label": "PBP", "method": "pbp", "alpha": 0.0 },
                "NDI": { "label": "NDI", "method": "ndi", "alpha": 0.01 },
            },
            "runs": { "online": {
                "BP": { "final_test_error": 0.12 },
                "FA": { "final_test_error": 0.13 },
                "PBP": { "final_test_error": pbp },
                "NDI": { "final_test_error": ndi },
            } }
        } })
    };
    let verdict = |pbp, ndi| verdict_of(&render(&fashion(pbp, ndi), Scale::Paper), "4a*");
    assert_eq!(verdict(0.13, 0.135), "holds");
    assert_eq!(verdict(0.13, 0.145), "partly"); // NDI 2.5 points behind BP
    assert_eq!(verdict(0.11, 0.15), "does not hold"); // PBP ahead, NDI 3 points behind
}

/// Extensions (`ext_*` pipelines) come after the paper's figures, although their names
/// sort first.
#[test]
fn extensions_follow_the_paper() {
    let mut s = linear_summary(2.0);
    s["ext_fashion_mnist_classification"] = json!({ "title": "Beyond", "models": {}, "runs": {} });
    let md = render(&s, Scale::Paper);
    let (paper, beyond) = (md.find("## t\n").unwrap(), md.find("## Beyond\n").unwrap());
    assert!(paper < beyond, "{md}");
}

/// A one-seed Fig. 4a summary of NDI, DI and gated DI (all α = 0.01) with these labels
/// for the two DI models and these metrics per model.
fn di_summary(labels: (&str, &str), ndi: Value, di: Value, gated: Value) -> Value {
    json!({ "fig4_mnist_classification": {
        "title": "t", "figures": [], "seeds": 1,
        "models": {
            "NDI": { "label": "NDI", "method": "ndi", "alpha": 0.01 },
            "DI": { "label": labels.0, "method": "di", "alpha": 0.01 },
            "DI-g": { "label": labels.1, "method": "di", "alpha": 0.01 },
        },
        "model_order": ["NDI", "DI", "DI-g"],
        "runs": { "online": { "NDI": ndi, "DI": di, "DI-g": gated } }
    } })
}

/// The report's DI-vs-NDI note, or "" when there is none.
fn di_note_line(s: &Value) -> String {
    render(s, Scale::Paper)
        .lines()
        .find(|l| l.starts_with("- **True DI vs its NDI proxy"))
        .unwrap_or("")
        .to_string()
}

/// Each DI model on MNIST gets its own row and verdict against the NDI model with its α.
#[test]
fn each_di_model_is_judged_against_its_ndi_twin() {
    let s = di_summary(
        ("DI plain", "DI gated"),
        json!({ "final_test_error": 0.032, "examples_trained": 9.0e5 }),
        json!({ "final_test_error": 0.089, "examples_trained": 9.0e5 }),
        json!({ "final_test_error": 0.0322, "examples_trained": 9.0e5 }),
    );
    let md = render(&s, Scale::Paper);
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| 4a* |")).collect();
    assert_eq!(rows.len(), 2, "{md}");
    assert!(
        rows[0].contains("DI plain") && rows[0].contains("**does not hold**"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains("DI gated") && rows[1].contains("**holds**"),
        "{}",
        rows[1]
    );
}

/// A one-seed pipeline summary with these models (name → method, α) and metrics of
/// one run.
fn summary_of(pipeline: &str, run: &str, models: &[(&str, &str, f64)], metrics: Value) -> Value {
    let meta: serde_json::Map<String, Value> = models
        .iter()
        .map(|(n, m, a)| {
            (
                n.to_string(),
                json!({ "label": n, "method": m, "alpha": a }),
            )
        })
        .collect();
    let order: Vec<&str> = models.iter().map(|m| m.0).collect();
    json!({ pipeline: {
        "title": "t", "figures": [], "seeds": 1, "models": meta, "model_order": order,
        "runs": { run: metrics }
    } })
}

/// Every criterion changed for the verdicts issue, on a summary where it must hold and
/// one where it must not: the criterion can fail on other data.
#[test]
fn each_criterion_can_fail() {
    let linear = [
        ("BP", "bp", 0.0),
        ("FA", "fa", 0.0),
        ("PBP", "pbp", 0.0),
        ("NDI", "ndi", 0.01),
        ("DI", "di", 0.01),
    ];
    // (figure, run, metrics where the claim holds, metrics where it does not)
    let cases: Vec<(&str, &str, &str, Value, Value)> = vec![
        (
            "fig3_linear",
            "3b",
            "fixed_norm",
            json!({ "BP": {"examples_to_nmse_1e-3": 3000}, "FA": {"examples_to_nmse_1e-3": 2800},
                    "PBP": {"examples_to_nmse_1e-3": 2500}, "NDI": {"examples_to_nmse_1e-3": 2500},
                    "DI": {"examples_to_nmse_1e-3": 2500} }),
            // DI never reaches the threshold: slower than everyone.
            json!({ "BP": {"examples_to_nmse_1e-3": 3000}, "FA": {"examples_to_nmse_1e-3": 2800},
                    "PBP": {}, "NDI": {}, "DI": {} }),
        ),
        (
            "fig3_linear",
            "3c",
            "fixed_lr",
            json!({ "DI": {"restabilisations": 4, "restabilisations_after_100": 0} }),
            // Ending stable is not enough: one late intervention fails the claim.
            json!({ "DI": {"restabilisations": 4, "restabilisations_after_100": 1, "final_max_eig": -0.2} }),
        ),
        (
            "fig3_linear",
            "3c*",
            "fixed_lr",
            json!({ "NDI": {"max_eig_over_training": -0.01} }),
            json!({ "NDI": {"max_eig_over_training": 0.34, "final_max_eig": 0.34} }),
        ),
        (
            "fig3_linear",
            "3d",
            "fixed_lr",
            json!({ "DI": {"settled_angle_di_ndi_deg": 0.2, "mean_angle_di_ndi_deg": 30.0} }),
            // A low whole-run mean does not save a large settled angle.
            json!({ "DI": {"settled_angle_di_ndi_deg": 20.0, "mean_angle_di_ndi_deg": 1.0} }),
        ),
        (
            "fig3_linear",
            "3e",
            "fixed_lr",
            json!({ "NDI": {"settled_angle_b_negwt_deg": 44.0}, "DI": {"settled_angle_b_negwt_deg": 47.0} }),
            json!({ "NDI": {"settled_angle_b_negwt_deg": 80.0, "final_angle_b_negwt_deg": 45.0},
                    "DI": {"settled_angle_b_negwt_deg": 85.0, "final_angle_b_negwt_deg": 45.0} }),
        ),
        (
            "fig3_linear",
            "3f",
            "fixed_lr",
            json!({ "DI": {"settled_angle_di_pbp_deg": 8.0} }),
            json!({ "DI": {"settled_angle_di_pbp_deg": 50.0, "mean_angle_di_pbp_deg": 5.0} }),
        ),
    ];
    for (pipeline, fig, run, good, bad) in cases {
        let md = render(&summary_of(pipeline, run, &linear, good), Scale::Paper);
        assert_eq!(verdict_of(&md, fig), "holds", "{fig} should hold:\n{md}");
        let md = render(&summary_of(pipeline, run, &linear, bad), Scale::Paper);
        assert_eq!(
            verdict_of(&md, fig),
            "does not hold",
            "{fig} should fail:\n{md}"
        );
    }

    let nonlinear = [
        ("BP", "bp", 0.0),
        ("FA", "fa", 0.0),
        ("NDI", "ndi", 0.01),
        ("DI", "di", 0.001),
        ("SDI", "sdi", 0.01),
    ];
    let nl = |m: Value| {
        render(
            &summary_of("fig3_nonlinear", "fixed_lr", &nonlinear, m),
            Scale::Paper,
        )
    };
    // 3g "often slower": judged on the error after 1000 examples.
    let slow = |ndi: f64, di: f64, sdi: f64| {
        nl(
            json!({ "BP": {"nmse_at_1000": 1e-4}, "FA": {"nmse_at_1000": 2e-4},
                   "NDI": {"nmse_at_1000": ndi}, "DI": {"nmse_at_1000": di}, "SDI": {"nmse_at_1000": sdi} }),
        )
    };
    let row = |md: &str| {
        md.lines()
            .filter(|l| l.starts_with("| 3g |"))
            .nth(1)
            .and_then(|l| l.split("**").nth(1))
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(row(&slow(5e-4, 5e-4, 5e-5)), "holds");
    assert_eq!(row(&slow(5e-4, 5e-5, 5e-5)), "partly");
    assert_eq!(row(&slow(5e-5, 5e-5, 5e-5)), "does not hold");
    // 3h: a positive eigenvalue before intervention at any example fails it.
    let md = nl(
        json!({ "DI": {"max_eig_over_training": -1e-3}, "SDI": {"max_eig_over_training": -1e-2} }),
    );
    assert_eq!(verdict_of(&md, "3h"), "holds");
    let md = nl(
        json!({ "DI": {"max_eig_over_training": 2e-3, "final_max_eig": -1e-3}, "SDI": {"max_eig_over_training": 1e-3} }),
    );
    assert_eq!(verdict_of(&md, "3h"), "does not hold");
}

/// When the two Gauss–Newton references disagree in a hidden layer, the GN claims get
/// no verdict but "inconclusive"; when they agree, the angles decide.
#[test]
fn gauss_newton_claims_are_inconclusive_when_the_references_disagree() {
    let models = [("BP", "bp", 0.0), ("FA", "fa", 0.0), ("DI", "di", 0.01)];
    let gn = |kron_exact_l1: f64, di_l1: f64| {
        let m = |angle: f64| {
            json!({ "mean_gn_angle_deg": angle, "mean_gn_angle_deg_l1": angle, "mean_gn_angle_deg_l2": 80.0,
                    "mean_gn_kron_exact_angle_deg_l1": kron_exact_l1,
                    "mean_gn_kron_exact_angle_deg_l2": 0.0,
                    "mean_gn_white_angle_deg_l1": angle })
        };
        let md = render(
            &summary_of(
                "fig3_linear",
                "fixed_lr",
                &models,
                json!({ "BP": m(40.0), "FA": m(35.0), "DI": m(di_l1) }),
            ),
            Scale::Paper,
        );
        md.lines()
            .filter(|l| l.starts_with("| GN (§4.3) |"))
            .map(|l| l.split("**").nth(1).unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(gn(0.5, 10.0), ["holds", "holds"]);
    assert_eq!(gn(0.5, 50.0), ["does not hold", "does not hold"]);
    assert_eq!(gn(40.0, 10.0), ["inconclusive", "inconclusive"]);
}

/// A three-seed Fig. 4a summary: (model, method, α, final test error of each seed,
/// as a fraction), with the seed means in `runs` and the seeds in `seed_values`.
fn mnist_summary(models: &[(&str, &str, f64, [f64; 3])]) -> Value {
    let meta: serde_json::Map<String, Value> = models
        .iter()
        .map(|(n, m, a, _)| {
            (
                n.to_string(),
                json!({ "label": n, "method": m, "alpha": a }),
            )
        })
        .collect();
    let means: serde_json::Map<String, Value> = models
        .iter()
        .map(|(n, _, _, e)| {
            (
                n.to_string(),
                json!({ "final_test_error": e.iter().sum::<f64>() / 3.0 }),
            )
        })
        .collect();
    let seeds: serde_json::Map<String, Value> = models
        .iter()
        .map(|(n, _, _, e)| (n.to_string(), json!({ "final_test_error": e })))
        .collect();
    let order: Vec<&str> = models.iter().map(|m| m.0).collect();
    json!({ "fig4_mnist_classification": {
        "title": "t", "figures": [], "seeds": 3, "models": meta, "model_order": order,
        "runs": { "online": means },
        "seed_values": { "online": seeds },
    } })
}

/// The `i`-th table row of a figure: (verdict, "k/n" seeds it holds in).
fn nth_row(md: &str, figure: &str, i: usize) -> (String, String) {
    let line = md
        .lines()
        .filter(|l| l.starts_with(&format!("| {figure} |")))
        .nth(i)
        .unwrap_or_else(|| panic!("no row {i} of {figure}:\n{md}"));
    let cells: Vec<&str> = line.split(" | ").collect();
    (
        line.split("**").nth(1).unwrap_or("").to_string(),
        cells.get(4).copied().unwrap_or("").to_string(),
    )
}

/// Fig. 4a's levels are judged up to an offset common to all models: a common offset
/// holds (and is stated), offsets that differ between models do not, and a common
/// offset beyond a point is partly at best.
#[test]
fn mnist_levels_are_judged_up_to_a_common_offset() {
    // The paper: BP 1.9, FA 1.7, PBP 2.7, NDI 2.7 (%).
    let levels = |bp: f64, fa: f64, pbp: f64, ndi: f64| {
        let e = |v: f64| [v / 100.0; 3];
        render(
            &mnist_summary(&[
                ("BP", "bp", 0.0, e(bp)),
                ("FA", "fa", 0.0, e(fa)),
                ("PBP", "pbp", 0.0, e(pbp)),
                ("NDI", "ndi", 0.0, e(ndi)),
            ]),
            Scale::Paper,
        )
    };
    let md = levels(2.35, 2.15, 3.15, 3.15);
    assert_eq!(nth_row(&md, "4a", 0).0, "holds");
    let line = md.lines().find(|l| l.starts_with("| 4a |")).unwrap();
    assert!(line.contains("systematic offset of +0.45 points"), "{line}");
    assert!(md.contains("**A systematic offset.**"), "{md}");
    // PBP 1 point further off than the others: the gaps do not reproduce.
    assert_eq!(
        nth_row(&levels(2.35, 2.15, 4.15, 3.15), "4a", 0).0,
        "partly"
    );
    // BP and FA at the paper's levels, PBP and NDI 1 point above: no offset is common.
    let md = levels(1.9, 1.7, 3.7, 3.7);
    assert_eq!(nth_row(&md, "4a", 0).0, "does not hold");
    assert!(md.contains("**Offsets from the paper.**"), "{md}");
    // Every gap reproduced, but 1.5 points above the paper: partly at best.
    assert_eq!(nth_row(&levels(3.4, 3.2, 4.2, 4.2), "4a", 0).0, "partly");
}

/// The second reference, Lillicrap et al. (2016): BP 2.4 %, FA 2.1 %.
#[test]
fn lillicrap_reference_can_fail() {
    let with = |bp: f64, fa: f64| {
        let md = render(
            &mnist_summary(&[("BP", "bp", 0.0, [bp; 3]), ("FA", "fa", 0.0, [fa; 3])]),
            Scale::Paper,
        );
        nth_row(&md, "4a (ref.)", 0).0
    };
    assert_eq!(with(0.0235, 0.022), "holds");
    assert_eq!(with(0.0300, 0.022), "partly");
    assert_eq!(with(0.0300, 0.015), "does not hold");
}

/// "PBP and NDI slightly worse than BP and FA" is judged on paired per-seed
/// differences: means that favour the claim do not save seeds that contradict it.
#[test]
fn mnist_slightly_worse_is_judged_on_paired_differences() {
    let with = |pbp: [f64; 3], ndi: [f64; 3]| {
        let md = render(
            &mnist_summary(&[
                ("BP", "bp", 0.0, [0.020, 0.021, 0.022]),
                ("FA", "fa", 0.0, [0.019, 0.020, 0.021]),
                ("PBP", "pbp", 0.0, pbp),
                ("NDI", "ndi", 0.01, ndi),
            ]),
            Scale::Paper,
        );
        (nth_row(&md, "4a", 1), md)
    };
    // Worse than both in every seed, by about a point.
    let ((verdict, seeds), md) = with([0.028, 0.029, 0.031], [0.030, 0.030, 0.031]);
    assert_eq!((verdict.as_str(), seeds.as_str()), ("holds", "3/3"));
    let line = md
        .lines()
        .filter(|l| l.starts_with("| 4a |"))
        .nth(1)
        .unwrap();
    assert!(
        line.contains("PBP − BP: +0.83 ± 0.06 (3/3 seeds > 0, paper +0.8)"),
        "{line}"
    );
    // The means are worse (one seed far behind), but two of three seeds are better
    // than BP and FA: the paired differences have the wrong sign in most seeds.
    let ((verdict, seeds), _) = with([0.018, 0.019, 0.035], [0.018, 0.019, 0.035]);
    assert_eq!((verdict.as_str(), seeds.as_str()), ("does not hold", "1/3"));
    // One seed against the claim makes the pair fail; NDI's pairs still hold.
    let ((verdict, _), _) = with([0.028, 0.019, 0.031], [0.030, 0.030, 0.031]);
    assert_eq!(verdict, "partly");
    // Worse in every seed, but by 3 points: not "slightly".
    let ((verdict, _), _) = with([0.050, 0.051, 0.052], [0.050, 0.051, 0.052]);
    assert_eq!(verdict, "does not hold");
}

/// The DI-vs-NDI finding says the gap is the missing g′(a₁) only when the gated DI
/// matches NDI and the plain DI does not.
#[test]
fn mnist_di_note_follows_the_numbers() {
    let note = |gated_angle: f64, gated_error: f64| {
        di_note_line(&di_summary(
            ("DI", "DI, g′ after"),
            json!({ "final_test_error": 0.032 }),
            json!({ "final_test_error": 0.089, "best_test_error": 0.069,
                    "mean_angle_di_ndi_deg": 51.7, "restabilisations": 4.0 }),
            json!({ "final_test_error": gated_error, "mean_angle_di_ndi_deg": gated_angle }),
        ))
    };
    let n = note(2.6e-4, 0.0322);
    assert!(
        n.contains("the whole gap between DI and NDI is the g′(a₁) factor"),
        "{n}"
    );
    assert!(n.contains("contradicts the paper's statement"), "{n}");
    assert!(
        n.contains("SSA re-stabilisation did not close the gap"),
        "{n}"
    );
    assert!(n.contains("best 6.90 %, final 8.90 %"), "{n}");
    for n in [note(20.0, 0.0322), note(2.6e-4, 0.05)] {
        assert!(n.contains("does not make DI match NDI"), "{n}");
        assert!(!n.contains("contradicts"), "{n}");
    }
}

/// Why DI's error climbs: the saturation verdict follows the diagnostics. DI ending far
/// more saturated than NDI (1.5× and 2 points more) is named as the cause; equal
/// saturation is said not to explain it; with no climb there is no verdict at all.
#[test]
fn mnist_climb_note_follows_the_saturation() {
    let note = |di_saturated: f64, di_final_error: f64| {
        let diag = |sat: f64| {
            json!({ "best_step": 2.0e5, "w1_norm_at_best": 20.0, "final_w1_norm": 30.0,
                    "w2_norm_at_best": 3.0, "final_w2_norm": 4.0,
                    "saturated_at_best": 0.01, "final_saturated": sat,
                    "final_mean_gprime": 0.5 })
        };
        let mut di = diag(di_saturated);
        for (k, v) in [
            ("final_test_error", di_final_error),
            ("best_test_error", 0.069),
            ("mean_angle_di_ndi_deg", 51.7),
        ] {
            di[k] = json!(v);
        }
        let mut ndi = diag(0.03);
        ndi["final_test_error"] = json!(0.032);
        di_note_line(&di_summary(
            ("DI", "DI, g′ after"),
            ndi,
            di,
            json!({ "final_test_error": 0.0322, "mean_angle_di_ndi_deg": 2.6e-4 }),
        ))
    };
    let n = note(0.20, 0.089);
    assert!(n.contains("saturated hidden units 1.0 % → 20.0 %"), "{n}");
    assert!(n.contains("ends far more saturated than NDI's"), "{n}");
    // 4 % against 3 %: less than 1.5× and 2 points more.
    let n = note(0.04, 0.089);
    assert!(n.contains("Saturation does not separate them"), "{n}");
    assert!(!n.contains("far more saturated"), "{n}");
    // No climb (final within 0.3 points of best): the numbers, but no verdict.
    let n = note(0.20, 0.070);
    assert!(n.contains("Diagnostics, seed means"), "{n}");
    assert!(
        !n.contains("far more saturated") && !n.contains("does not separate"),
        "{n}"
    );
}

/// The BP-control note names a BP model that explains half the input-dependent variance
/// as a control that learns, and says none does otherwise.
#[test]
fn bp_control_note_can_find_a_control() {
    let note = |explained: f64| {
        let s = json!({ "ext_nonlinear_bp_control": {
            "title": "t", "figures": [], "seeds": 1,
            "models": {
                "BP": { "label": "BP", "method": "bp", "alpha": 0.0 },
                "BP-x3": { "label": "BP (init ×3)", "method": "bp", "alpha": 0.0 },
            },
            "model_order": ["BP", "BP-x3"],
            "runs": {
                "lr_0.01": { "BP": { "input_variance_explained": -1.5, "final_nmse": 1e-5 },
                             "BP-x3": { "input_variance_explained": -500.0, "final_nmse": 1e-3 } },
                "lr_1": { "BP": { "input_variance_explained": explained, "final_nmse": 1e-6 },
                          "BP-x3": { "input_variance_explained": -20.0, "final_nmse": 1e-4 } },
            }
        } });
        render(&s, Scale::Paper)
            .lines()
            .find(|l| l.starts_with("- **BP controls"))
            .unwrap_or("")
            .to_string()
    };
    let n = note(-2.0);
    assert!(n.contains("No BP control explains 0.5"), "{n}");
    assert!(n.contains("`lr_1`: BP -2.00"), "{n}");
    let n = note(0.6);
    assert!(
        n.contains("A BP control learns the input-dependent part (BP in `lr_1`)"),
        "{n}"
    );
}

/// An offset-candidate pipeline holds when every model lands within 0.2 points of the
/// paper's error, and not when they keep Fig. 4a's +0.44.
#[test]
fn offset_candidates_are_judged_model_by_model() {
    let verdict = |bp: f64, ndi: f64| {
        let mut s = mnist_summary(&[
            ("BP", "bp", 0.0, [bp; 3]),
            ("NDI-Tr-0", "ndi", 0.0, [ndi; 3]),
        ]);
        let p = s["fig4_mnist_classification"].take();
        s = json!({ "ext_mnist_offset_global_norm": p });
        nth_row(&render(&s, Scale::Paper), "4a (offset)", 0).0
    };
    assert_eq!(verdict(0.0195, 0.0265), "holds");
    assert_eq!(verdict(0.0234, 0.0314), "does not hold");
    assert_eq!(verdict(0.0195, 0.0314), "partly");
}
