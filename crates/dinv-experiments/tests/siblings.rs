//! `ext_siblings_nonlinear`: sign symmetry and DFA beside BP, FA and NDI on the
//! nonlinear regression, through the same training and Gauss–Newton analysis; and the
//! errors a pipeline file gets for DFA where it does not apply.

mod common;

use common::*;
use dinv_experiments::{load_pipeline, Scale};

const NAME: &str = "ext_siblings_nonlinear";

#[test]
fn every_sibling_goes_through_training_and_the_gauss_newton_analysis() {
    let p = pipeline(NAME, Scale::Smoke);
    let tmp = tempfile::tempdir().unwrap();
    let report = run(&p, tmp.path(), 2);
    let s = summary(&p, &report);
    let m = |model: &str, key: &str| run_metric(&s, "fixed_lr", model, key);
    for model in ["BP", "FA", "SS", "DFA", "NDI-Tr-0.01"] {
        // Every model learns the teacher within the smoke run's 400 examples.
        let e = m(model, "final_nmse");
        assert!(e.is_finite() && e < 0.1, "{model}: final_nmse {e}");
        for key in ["mean_gn_angle_deg_l1", "mean_gn_angle_deg_l2"] {
            let a = m(model, key);
            assert!((0.0..=180.0).contains(&a), "{model}: {key} = {a}");
        }
    }
    // BP's batch update is the gradient, so its angle to the gradient is zero: the
    // analysis measures what it says.
    assert!(m("BP", "mean_gn_grad_angle_deg_l1") < 1e-6);
    // Sign symmetry keeps the transpose's signs: its update of W_1 leans towards the
    // gradient (acute) without being it, unlike FA's random feedback (near 90°).
    let ss = m("SS", "mean_gn_grad_angle_deg_l1");
    let fa = m("FA", "mean_gn_grad_angle_deg_l1");
    assert!(ss > 1.0 && ss < 75.0, "SS: {ss}°");
    assert!(fa > 75.0, "FA: {fa}°");

    // DFA's direct matrices come from the data stage: D_l ~ U(±0.5), d_l × d_L.
    let data = report
        .outputs("ext_siblings_nonlinear/fixed_lr/s1/data")
        .unwrap()
        .table("init")
        .unwrap();
    let mats = dinv_experiments::tables::table_to_matrices(&data).unwrap();
    for (name, rows) in [("D1_U0.5", 20), ("D2_U0.5", 10)] {
        let d = &mats[name];
        assert_eq!((d.nrows(), d.ncols()), (rows, 10), "{name}");
        let max = (0..d.ncols())
            .flat_map(|j| (0..d.nrows()).map(move |i| (i, j)))
            .map(|(i, j)| d[(i, j)].abs())
            .fold(0.0, f64::max);
        assert!(max <= 0.5 && max > 0.3, "{name}: largest |entry| {max}");
    }
    // …and only where a DFA model needs them: fig3_nonlinear's data stage (no DFA) has
    // no `direct_draws` parameter, so its cache key is what it was.
    let other = pipeline("fig3_nonlinear", Scale::Smoke);
    let data_params = &other
        .graph
        .stages()
        .iter()
        .find(|st| st.kind == "regression_data")
        .unwrap()
        .params;
    assert!(data_params.get("direct_draws").is_none(), "{data_params}");
}

fn load_error(file: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::write(&path, text).unwrap();
    match load_pipeline(&path, Scale::Smoke) {
        Ok(_) => panic!("expected an error for {file}"),
        Err(e) => e,
    }
}

#[test]
fn dfa_where_it_does_not_apply_is_a_clear_error() {
    let base = std::fs::read_to_string(workspace().join(format!("pipelines/{NAME}.toml")))
        .unwrap()
        .replace("name = \"ext_siblings_nonlinear\"", "name = \"bad\"");
    // DFA's matrices are random draws: a transpose-based initialisation is refused.
    let text = base.replace(
        "method = \"dfa\"\nfeedback = { kind = \"uniform\", half_width = 0.5 }",
        "method = \"dfa\"\nfeedback = { kind = \"neg_transpose\" }",
    );
    assert_ne!(text, base);
    let err = load_error("bad_dfa.toml", &text);
    for needle in ["bad_dfa.toml", "model `DFA`", "kind = \"uniform\""] {
        assert!(err.contains(needle), "{needle:?} missing: {err}");
    }
    // One hidden layer: DFA is FA, and the classification pipeline says so.
    let cls = std::fs::read_to_string(workspace().join("pipelines/fig4_mnist_classification.toml"))
        .unwrap();
    let text = cls.replacen(
        "name = \"FA\"\nlabel = \"FA\"\nmethod = \"fa\"",
        "name = \"FA\"\nlabel = \"FA\"\nmethod = \"dfa\"",
        1,
    );
    assert_ne!(text, cls);
    let err = load_error("dfa_classification.toml", &text);
    assert!(
        err.contains("DFA is FA") && err.contains("model `FA`"),
        "{err}"
    );
}
