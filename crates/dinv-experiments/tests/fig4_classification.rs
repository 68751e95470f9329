//! The smoke-scale MNIST classification pipeline (needs the real MNIST files: set
//! DINV_DATA_DIR, as `.ci/run` does). Properties that would catch a wrong number, and a
//! regression snapshot of the summary.

mod common;

use common::*;
use dinv_experiments::Scale;
use serde_json::Value;

fn metric(s: &Value, model: &str, key: &str) -> f64 {
    run_metric(s, "online", model, key)
}

#[test]
fn smoke_summary_properties_and_snapshot() {
    let (s, models) = smoke_summary("fig4_mnist_classification");
    assert_eq!(models.len(), 7);
    for m in &models {
        // Chance is 90 % error; one pass over 3000 images must do far better.
        let e = metric(&s, m, "final_test_error");
        assert!(e > 0.0 && e < 0.3, "{m}: test error {e}");
    }
    {
        let (di, ndi) = ("DI-Tr-0.01", "NDI-Tr-0.01");
        // The Newton steady state is where 10000 Euler steps end up.
        let a = metric(&s, di, "mean_angle_euler_vs_solver_deg");
        assert!(a < 1.0, "{di}: Euler vs steady state {a} degrees");
        assert_eq!(metric(&s, di, "euler_fraction"), 0.0);
        // DI and its NDI proxy train to nearly the same error.
        let (e_di, e_ndi) = (
            metric(&s, di, "final_test_error"),
            metric(&s, ndi, "final_test_error"),
        );
        assert!((e_di - e_ndi).abs() < 0.02, "{di} {e_di} vs {ndi} {e_ndi}");
        assert!(metric(&s, di, "final_max_eig") < 0.0);
        // Diagnostics: one stability check before every example, each positive one
        // followed by exactly one re-stabilisation.
        assert_eq!(
            metric(&s, di, "stability_checks"),
            metric(&s, di, "examples_trained")
        );
        assert_eq!(
            metric(&s, di, "positive_checks"),
            metric(&s, di, "restabilisations")
        );
        let (mean, max) = (
            metric(&s, di, "mean_eig_checked"),
            metric(&s, di, "max_eig_checked"),
        );
        assert!(mean <= max, "mean {mean} above max {max}");
        for m in &models {
            let sat = metric(&s, m, "final_saturated");
            assert!((0.0..=1.0).contains(&sat), "{m}: saturated share {sat}");
            assert!(metric(&s, m, "final_w1_norm") > 0.0);
        }
        // With g'(a_1) applied after, as NDI's signal has it, DI's hidden error points
        // much closer to NDI's: what is left is the tanh of the dynamics.
        let gated = metric(&s, "DI-gated-Tr-0.01", "mean_angle_di_ndi_deg");
        let plain = metric(&s, di, "mean_angle_di_ndi_deg");
        assert!(
            gated < 1.0 && gated < 0.5 * plain,
            "gated {gated}° vs plain {plain}°"
        );
    }
    insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_yaml_snapshot!("fig4_classification_smoke_summary", rounded(&s, 4));
    });
}

/// The Fashion-MNIST extension at smoke scale (needs Debian's `dataset-fashion-mnist`,
/// which `.ci/run` installs): every model learns, far from chance (90 % error), but the
/// harder dataset keeps one pass over 3000 images well above MNIST's few percent.
#[test]
fn fashion_smoke_summary_properties_and_snapshot() {
    let (s, models) = smoke_summary("ext_fashion_mnist_classification");
    assert_eq!(models.len(), 5);
    for m in &models {
        let e = metric(&s, m, "final_test_error");
        assert!(e > 0.1 && e < 0.4, "{m}: test error {e}");
    }
    insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_yaml_snapshot!("ext_fashion_classification_smoke_summary", rounded(&s, 4));
    });
}

/// When DI trains for fewer epochs than the other models (`di_epochs`), the analysis
/// must also read every model's test error after DI's last example, or the report would
/// set DI beside a fully trained NDI.
#[test]
fn paper_scale_compares_di_with_ndi_at_di_budget() {
    use dinv_experiments::classification::{build_from, ClassificationConfig};
    use dinv_experiments::spec::Scaled;
    let mut cfg: ClassificationConfig = dinv_pipeline::load_pipeline_toml(
        &workspace().join("pipelines/fig4_mnist_classification.toml"),
    )
    .unwrap();
    let analysis_params = |cfg: &ClassificationConfig, scale: Scale| {
        let p = build_from(cfg.clone(), scale).unwrap();
        p.graph
            .stages()
            .iter()
            .find(|s| s.id.ends_with("/analysis"))
            .expect("an analysis stage")
            .params
            .clone()
    };
    // The committed pipeline trains DI for all epochs: nothing extra to read.
    assert!(analysis_params(&cfg, Scale::Paper)
        .get("compare_at")
        .is_none());
    // Cut DI short at paper scale: the analysis reads every model after DI's budget.
    let per_epoch = cfg.data.train_examples.at(Scale::Paper);
    cfg.training.di_epochs = Some(Scaled::PerScale { smoke: 1, paper: 2 });
    assert!(cfg.training.epochs.at(Scale::Paper) > 2);
    let paper = analysis_params(&cfg, Scale::Paper);
    assert_eq!(
        paper["compare_at"].as_u64(),
        Some(2 * per_epoch as u64),
        "{paper}"
    );
    // At smoke scale every model trains as long as DI.
    let smoke = analysis_params(&cfg, Scale::Smoke);
    assert!(smoke.get("compare_at").is_none(), "{smoke}");
}
