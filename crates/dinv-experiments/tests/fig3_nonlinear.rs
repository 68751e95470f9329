//! The smoke-scale nonlinear-regression pipeline (Fig. 3g–k): properties that would
//! catch a wrong number, and a regression snapshot of the summary.

mod common;

use common::*;
use serde_json::Value;

fn metric(s: &Value, model: &str, key: &str) -> f64 {
    run_metric(s, "fixed_lr", model, key)
}

#[test]
fn smoke_summary_properties_and_snapshot() {
    let (s, models) = smoke_summary("fig3_nonlinear");
    assert_eq!(models.len(), 12);
    for m in &models {
        let e = metric(&s, m, "final_nmse");
        assert!(e > 0.0 && e < 0.1, "{m}: final nmse {e}");
    }
    for variant in ["Tr-0.01", "Tr-0.001", "R-0.01"] {
        let di = format!("DI-{variant}");
        let sdi = format!("SDI-{variant}");
        // Every dynamic model is stable and, with α > 0, has a fixed point (no Euler fallback).
        for m in [&di, &sdi] {
            assert!(metric(&s, m, "final_max_eig") < 0.0, "{m} unstable");
            assert_eq!(
                metric(&s, m, "euler_fraction"),
                0.0,
                "{m} fell back to Euler"
            );
        }
        // No intervention was needed: the pre-intervention abscissa is the recorded one,
        // and the settled angle (second half) cannot exceed the largest angle seen.
        for m in [&di, &sdi] {
            assert_eq!(metric(&s, m, "restabilisations"), 0.0, "{m}");
            assert!(metric(&s, m, "max_eig_over_training") < 0.0, "{m}");
            assert_eq!(metric(&s, m, "frac_steps_unstable"), 0.0, "{m}");
            let settled = metric(&s, m, "settled_angle_di_ndi_deg");
            assert!(settled.is_finite() && settled >= 0.0, "{m}: {settled}");
        }
        // Sequential DI stays close to NDI; the single loop settles elsewhere (Fig. 3k).
        let a_di = metric(&s, &di, "mean_angle_di_ndi_deg");
        let a_sdi = metric(&s, &sdi, "mean_angle_di_ndi_deg");
        assert!(a_di < 15.0, "{di}: {a_di} degrees from NDI");
        assert!(
            a_sdi > a_di,
            "{sdi} ({a_sdi}) should differ from NDI more than {di} ({a_di})"
        );
    }
    // The teacher's weights and biases are of size 0.01: its output is its output bias
    // plus an input-dependent part of order 0.01^3 * sqrt(30 * 20 * 10), so well under
    // 5 % of the targets' energy depends on the input.
    let share = metric(&s, "BP", "input_dependent_share");
    assert!(share > 0.0 && share < 0.05, "input-dependent share {share}");
    let mean_nmse = metric(&s, "BP", "nmse_mean_predictor");
    assert!(mean_nmse > 0.0 && mean_nmse < 1.0, "{mean_nmse}");
    // The best constant output's error, relative to the worst error: a model's
    // explained fraction is 1 − its final error over that one.
    for m in &models {
        let (ex, e) = (
            metric(&s, m, "input_variance_explained"),
            metric(&s, m, "final_nmse"),
        );
        assert!(
            (ex - (1.0 - e / mean_nmse)).abs() < 1e-9,
            "{m}: {ex} vs {e} / {mean_nmse}"
        );
    }
    // With the largest leak the tanh dynamics are nearly linear around small errors,
    // so DI and NDI train almost identically.
    let (di, ndi) = (
        metric(&s, "DI-Tr-0.01", "final_nmse"),
        metric(&s, "NDI-Tr-0.01", "final_nmse"),
    );
    assert!((di - ndi).abs() < 0.05 * ndi, "DI {di} vs NDI {ndi}");

    insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_yaml_snapshot!("fig3_nonlinear_smoke_summary", rounded(&s, 4));
    });
}
