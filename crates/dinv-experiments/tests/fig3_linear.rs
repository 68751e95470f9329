//! The smoke-scale linear-regression pipeline end to end: properties that would
//! catch a wrong number, a regression snapshot of the summary, and determinism
//! across thread counts.

mod common;

use common::run_metric as metric;
use common::*;
use dinv_experiments::Scale;

#[test]
fn smoke_summary_properties_and_snapshot() {
    let (s, models) = smoke_summary("fig3_linear");
    assert_eq!(models.len(), 11);

    for m in &models {
        // Everyone learns: the normalised error starts at <= 1 and falls well below it.
        let e = metric(&s, "fixed_lr", m, "final_nmse");
        assert!(e > 0.0 && e < 0.2, "{m}: final nmse {e}");
    }
    for m in models.iter().filter(|m| m.starts_with("DI-")) {
        // DI is stable at the end of training (SSA re-stabilises it when needed).
        assert!(
            metric(&s, "fixed_lr", m, "final_max_eig") < 0.0,
            "{m} unstable"
        );
        // DI agrees with its closed form except while the α = 0 dynamics are slow.
        let a = metric(&s, "fixed_lr", m, "mean_angle_di_ndi_deg");
        let limit = if m == "DI-Tr-0" { 10.0 } else { 3.0 };
        assert!(a < limit, "{m}: DI vs NDI {a} degrees");
        // and the powered Euler ran the paper's 10000 steps (or converged earlier).
        let steps = metric(&s, "fixed_lr", m, "mean_di_steps");
        assert!(steps > 100.0 && steps <= 10000.0, "{m}: {steps} steps");
    }
    // Stability before intervention: SSA only ever lowers the abscissa, so the largest
    // value before any intervention bounds the recorded (post-SSA) final one; every
    // intervention started from a positive value and left a negative one; late ones are
    // a subset of all of them.
    for m in models
        .iter()
        .filter(|m| m.starts_with("DI-") || m.starts_with("NDI-"))
    {
        let pre = metric(&s, "fixed_lr", m, "max_eig_over_training");
        assert!(pre >= metric(&s, "fixed_lr", m, "final_max_eig"), "{m}");
        let frac = metric(&s, "fixed_lr", m, "frac_steps_unstable");
        assert!((0.0..=1.0).contains(&frac), "{m}: {frac}");
        assert_eq!(
            frac > 0.0,
            pre > 0.0,
            "{m}: {frac} of steps unstable, max {pre}"
        );
        let n = metric(&s, "fixed_lr", m, "restabilisations");
        let late = metric(&s, "fixed_lr", m, "restabilisations_after_100");
        assert!(late <= n, "{m}");
        if m.starts_with("NDI-") {
            // NDI is never re-stabilised.
            assert_eq!(n, 0.0, "{m}");
        } else if n > 0.0 {
            assert!(metric(&s, "fixed_lr", m, "max_abscissa_before_restabilisation") > 0.0);
            assert!(metric(&s, "fixed_lr", m, "max_abscissa_after_restabilisation") < 0.0);
            assert!(metric(&s, "fixed_lr", m, "last_restabilisation_step") >= 1.0);
            // A positive pre-intervention value is exactly what triggers SSA.
            assert!(pre > 0.0, "{m}: {n} interventions but max {pre}");
        }
        // The settled angle is an average of angles: within 0–180°.
        let b = metric(&s, "fixed_lr", m, "settled_angle_b_negwt_deg");
        assert!((0.0..=180.0).contains(&b), "{m}: {b}");
    }
    // The linear teacher's inputs have zero mean, so (almost) all of the targets depend on
    // the input, and a model that learned the task explains (almost) all of that.
    let share = metric(&s, "fixed_lr", "BP", "input_dependent_share");
    assert!(
        share > 0.95 && share <= 1.0,
        "input-dependent share {share}"
    );
    for m in &models {
        let ex = metric(&s, "fixed_lr", m, "input_variance_explained");
        assert!(ex > 0.8 && ex <= 1.0, "{m}: explained {ex}");
    }
    // With a large leak DI and NDI coincide, so their training curves must too.
    let di = metric(&s, "fixed_lr", "DI-Tr-0.01", "final_nmse");
    let ndi = metric(&s, "fixed_lr", "NDI-Tr-0.01", "final_nmse");
    assert!((di - ndi).abs() < 1e-3 * ndi, "DI {di} vs NDI {ndi}");
    // Fixed-norm updates: every model moves by the same step, so the errors stay
    // within one order of magnitude of each other.
    let fixed: Vec<f64> = models
        .iter()
        .map(|m| metric(&s, "fixed_norm", m, "final_nmse"))
        .collect();
    let (lo, hi) = fixed
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi / lo < 10.0, "{fixed:?}");

    insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_yaml_snapshot!("fig3_linear_smoke_summary", rounded(&s, 4));
    });
}

/// Same seed and config ⇒ byte-identical Parquet and JSON, whatever the thread count.
#[test]
fn outputs_are_identical_across_thread_counts() {
    let p = pipeline("fig3_linear", Scale::Smoke);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(&p, a.path(), 1);
    run(&p, b.path(), 2);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert!(
        fa.len() > 50,
        "expected many output files, found {}",
        fa.len()
    );
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between 1 and 2 threads");
    }
}
