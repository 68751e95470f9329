//! The Gauss–Newton comparison (section 4.3, supp. 7.2) on the smoke-scale linear
//! regression: properties that would catch a wrong number or a mis-wired stage.

mod common;

use std::collections::BTreeMap;

use common::*;
use dinv_experiments::regression::gauss_newton::gn_findings;
use dinv_experiments::verdict::{PipelineSummary, Verdict};
use dinv_experiments::Scale;
use serde_json::Value;

/// `(model, metric, layer) → [(step, value)]` from a GN stage's `curves` table.
type Curves = BTreeMap<(String, String, i64), Vec<(i64, f64)>>;

fn curves(t: &dinv_pipeline::Table) -> Curves {
    let (m, s, k, l, v) = (
        t.str("model").unwrap(),
        t.i64("step").unwrap(),
        t.str("metric").unwrap(),
        t.i64("layer").unwrap(),
        t.f64("value").unwrap(),
    );
    let mut out = Curves::new();
    for i in 0..m.len() {
        out.entry((m[i].clone(), k[i].clone(), l[i]))
            .or_default()
            .push((s[i], v[i]));
    }
    out
}

fn at(c: &Curves, model: &str, metric: &str, layer: i64, step: i64) -> f64 {
    c.get(&(model.into(), metric.into(), layer))
        .and_then(|v| v.iter().find(|(s, _)| *s == step))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {metric} (layer {layer}) of {model} at step {step}"))
}

#[test]
fn linear_smoke_gauss_newton_properties() {
    let p = pipeline("fig3_linear", Scale::Smoke);
    let tmp = tempfile::tempdir().unwrap();
    let report = run(&p, tmp.path(), 2);
    let gn = report
        .outputs("fig3_linear/fixed_lr/s1/gauss_newton")
        .expect("the fixed_lr run has a Gauss–Newton stage");
    assert!(
        report
            .outputs("fig3_linear/fixed_norm/s1/gauss_newton")
            .is_none(),
        "runs without checkpoints get no Gauss–Newton stage"
    );
    let c = curves(&gn.table("curves").unwrap());
    let s = summary(&p, &report);
    let models: Vec<String> = s["model_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(models.len(), 11);
    // 300 examples, 5 checkpoints besides step 0.
    let steps = [0, 60, 120, 180, 240, 300];

    // Every model and checkpoint is there, and every angle is a valid angle.
    for m in &models {
        for (metric, layers) in [
            ("gn_angle_deg", &[1, 2][..]),
            ("gn_exact_angle_deg", &[1, 2]),
            ("gn_white_angle_deg", &[1, 2]),
            ("gn_grad_angle_deg", &[1, 2]),
            ("gn_kron_exact_angle_deg", &[1, 2]),
            ("gn_delta_angle_deg", &[1]),
        ] {
            for &l in layers {
                let got: Vec<i64> = c[&(m.clone(), metric.to_string(), l)]
                    .iter()
                    .map(|x| x.0)
                    .collect();
                assert_eq!(got, steps, "{m} {metric} layer {l}");
                for &step in &steps {
                    let v = at(&c, m, metric, l, step);
                    assert!((0.0..=180.0).contains(&v), "{m} {metric} {l} {step}: {v}");
                }
            }
        }
        // The summary carries the means over the checkpoints after step 0.
        let mean: f64 = steps[1..]
            .iter()
            .map(|&st| at(&c, m, "gn_angle_deg", 1, st))
            .sum::<f64>()
            / 5.0;
        let key = format!("/runs/fixed_lr/{m}/mean_gn_angle_deg_l1");
        let got = s.pointer(&key).and_then(Value::as_f64).expect(&key);
        assert!(
            (got - mean).abs() < 1e-9 * mean.max(1.0),
            "{key}: {got} vs {mean}"
        );
        for key in [
            "mean_gn_angle_deg",
            "mean_gn_angle_deg_l2",
            "mean_gn_exact_angle_deg",
            "mean_gn_white_angle_deg",
            "mean_gn_delta_angle_deg",
        ] {
            assert!(
                s.pointer(&format!("/runs/fixed_lr/{m}/{key}")).is_some(),
                "{m} {key}"
            );
            assert!(s.pointer(&format!("/runs/fixed_norm/{m}/{key}")).is_none());
        }
    }

    // Step 0: every model has the same weights, and the output error is not
    // propagated, so the output layer's update — and its angle to GN — is shared.
    let top0 = at(&c, "BP", "gn_angle_deg", 2, 0);
    for m in &models {
        let v = at(&c, m, "gn_angle_deg", 2, 0);
        assert!(
            (v - top0).abs() < 1e-9,
            "{m}: output-layer angle {v} vs BP's {top0}"
        );
    }
    // In a linear network C_n does not depend on the example, so the Kronecker
    // factorisation is exact up to the damping (which weighs the two slightly
    // differently in directions of small curvature).
    for m in &models {
        for l in [1, 2] {
            let v: Vec<f64> = steps
                .iter()
                .map(|&st| at(&c, m, "gn_kron_exact_angle_deg", l, st))
                .collect();
            assert!(
                v.iter().all(|x| *x < 3.0) && v.iter().sum::<f64>() / 6.0 < 0.5,
                "{m} layer {l}: Kronecker vs exact {v:?}°"
            );
        }
    }
    // BP's update is the negative gradient, which the GN code computes independently
    // (from the Jacobians C_n): exactly at step 0, where the small weights keep every δ
    // below the cap, and nearly later, when the cap (‖δ‖ ≤ 10) clips a few examples.
    for l in [1, 2] {
        let v = at(&c, "BP", "gn_grad_angle_deg", l, 0);
        assert!(v < 1e-6, "BP step 0 layer {l}: {v}° from the gradient");
        for st in steps {
            let v = at(&c, "BP", "gn_grad_angle_deg", l, st);
            assert!(v < 1.0, "BP step {st} layer {l}: {v}° from the gradient");
        }
    }
    // Eq. (S7) with D = I is W_2^+ e: PBP's error signal exactly, and NDI's with
    // Tr-Init and α = 0 at step 0 (B = −W^T gives B (W B)^{-1} = W^+ for a
    // contracting layer). The leak moves NDI away from it, the more the larger α.
    for m in ["PBP", "NDI-Tr-0"] {
        let v = at(&c, m, "gn_delta_angle_deg", 1, 0);
        assert!(v < 1e-5, "{m}: δ₁ vs Eq. (S7) at step 0: {v}°");
    }
    let pbp_all: Vec<f64> = steps
        .iter()
        .map(|&st| at(&c, "PBP", "gn_delta_angle_deg", 1, st))
        .collect();
    assert!(pbp_all.iter().all(|v| *v < 1e-5), "PBP {pbp_all:?}");
    let (a0, a1, a2) = (
        at(&c, "NDI-Tr-0", "gn_delta_angle_deg", 1, 0),
        at(&c, "NDI-Tr-0.001", "gn_delta_angle_deg", 1, 0),
        at(&c, "NDI-Tr-0.01", "gn_delta_angle_deg", 1, 0),
    );
    assert!(
        a0 < a1 && a1 < a2,
        "NDI at step 0, α = 0, 1e-3, 1e-2: {a0}, {a1}, {a2}"
    );
    // BP's error signal is W^T e, not W^+ e: it is not GN's, at any checkpoint.
    for st in steps {
        let bp = at(&c, "BP", "gn_angle_deg", 1, st);
        let bp_delta = at(&c, "BP", "gn_delta_angle_deg", 1, st);
        assert!(
            bp > 1.0 && bp_delta > 1.0,
            "step {st}: BP {bp}°, δ {bp_delta}°"
        );
    }

    // The figures stage draws the GN panels.
    let figs = report.outputs(&p.figures_stage).unwrap().files();
    for f in [
        "fig3_gn_linear.png",
        "fig3_gn_linear_out.png",
        "fig3_gn_delta_linear.svg",
    ] {
        assert!(figs.iter().any(|x| x == f), "{f} missing from {figs:?}");
    }
    check_findings("fig3_linear", &s);
}

/// The report's GN claims are all decided (none "not run") and quote the numbers.
fn check_findings(name: &str, s: &Value) {
    let ps = PipelineSummary::new(name, s);
    let found = gn_findings(name, &ps);
    assert_eq!(found.len(), 3, "{name}");
    for f in &found {
        assert_ne!(f.verdict, Verdict::NotRun, "{name}: {}", f.claim);
        assert!(f.ours.contains("DI ("), "{name}: {}", f.ours);
        assert!(
            !f.ours.contains('–'),
            "{name}: a number is missing in {}",
            f.ours
        );
    }
    // A pipeline without a GN stage has no GN claims.
    let mut bare = s.clone();
    for run in bare["runs"].as_object_mut().unwrap().values_mut() {
        for m in run.as_object_mut().unwrap().values_mut() {
            m.as_object_mut()
                .unwrap()
                .retain(|k, _| !k.contains("_gn_"));
        }
    }
    assert!(gn_findings(name, &PipelineSummary::new(name, &bare)).is_empty());
}

#[test]
fn nonlinear_smoke_gauss_newton_properties() {
    let p = pipeline("fig3_nonlinear", Scale::Smoke);
    let tmp = tempfile::tempdir().unwrap();
    let report = run(&p, tmp.path(), 2);
    let gn = report
        .outputs("fig3_nonlinear/fixed_lr/s1/gauss_newton")
        .expect("the fixed_lr run has a Gauss–Newton stage");
    let c = curves(&gn.table("curves").unwrap());
    let s = summary(&p, &report);
    let models: Vec<String> = s["model_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(models.len(), 12);
    // 400 examples, 5 checkpoints besides step 0; three layers, all small enough for
    // the exact GN step; Eq. (S7) concerns layer 2.
    let steps = [0, 80, 160, 240, 320, 400];
    for m in &models {
        for (metric, layers) in [
            ("gn_angle_deg", &[1, 2, 3][..]),
            ("gn_exact_angle_deg", &[1, 2, 3]),
            ("gn_delta_angle_deg", &[2]),
        ] {
            for &l in layers {
                let got: Vec<i64> = c[&(m.clone(), metric.to_string(), l)]
                    .iter()
                    .map(|x| x.0)
                    .collect();
                assert_eq!(got, steps, "{m} {metric} layer {l}");
                for &st in &steps {
                    let v = at(&c, m, metric, l, st);
                    assert!((0.0..=180.0).contains(&v), "{m} {metric} {l} {st}: {v}");
                }
            }
        }
    }
    // The output layer (linear, 𝒢 = I) is solved exactly by both forms.
    for m in &models {
        for st in steps {
            let v = at(&c, m, "gn_kron_exact_angle_deg", 3, st);
            assert!(
                v < 1e-6,
                "{m} step {st}: output layer Kronecker vs exact {v}°"
            );
        }
    }
    // Step 0: identical weights, so identical output-layer angles.
    let top0 = at(&c, "BP", "gn_angle_deg", 3, 0);
    for m in &models {
        assert!((at(&c, m, "gn_angle_deg", 3, 0) - top0).abs() < 1e-9, "{m}");
    }
    let figs = report.outputs(&p.figures_stage).unwrap().files();
    for f in [
        "fig3_gn_nonlinear.png",
        "fig3_gn_nonlinear_out.png",
        "fig3_gn_nonlinear_l1.png",
        "fig3_gn_delta_nonlinear.png",
    ] {
        assert!(figs.iter().any(|x| x == f), "{f} missing from {figs:?}");
    }
    check_findings("fig3_nonlinear", &s);
}
