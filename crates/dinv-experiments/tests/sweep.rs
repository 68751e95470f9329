//! Parameter sweeps (`[sweep]` in a pipeline file): the expansion is checked against a
//! pipeline written out by hand, changing one grid value changes only that value's
//! stages, and every malformed grid is an error that names its key.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::workspace;
use dinv_experiments::regression::RegressionConfig;
use dinv_experiments::{load_pipeline, Scale};
use dinv_pipeline::{load_pipeline_toml, Executor};

fn swept_file() -> PathBuf {
    workspace().join("pipelines/ext_nonlinear_alpha.toml")
}

/// The α sweep as it was written before sweeps existed: twelve models by hand.
fn written_out_file() -> PathBuf {
    workspace().join("crates/dinv-experiments/tests/fixtures/ext_nonlinear_alpha_written_out.toml")
}

/// Stage id → cache key of every stage of a pipeline file at `scale`.
fn stage_keys(path: &Path, scale: Scale) -> BTreeMap<String, String> {
    let p = load_pipeline(path, scale).unwrap_or_else(|e| panic!("{e}"));
    let empty = tempfile::tempdir().unwrap();
    Executor::new(empty.path().to_path_buf())
        .status(&p.graph)
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.key))
        .collect()
}

/// The committed α sweep expands into exactly the hand-written pipeline: the same
/// models in the same order, and so the same stages with the same cache keys (hence the
/// same outputs, byte for byte) at both scales.
#[test]
fn the_alpha_sweep_expands_to_the_written_out_pipeline() {
    let swept: RegressionConfig = load_pipeline_toml(&swept_file()).unwrap();
    let by_hand: RegressionConfig = load_pipeline_toml(&written_out_file()).unwrap();
    let names = |c: &RegressionConfig| c.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&swept),
        [
            "BP",
            "BP-x10",
            "NDI-Tr-0.0001",
            "DI-Tr-0.0001",
            "NDI-Tr-0.001",
            "DI-Tr-0.001",
            "NDI-Tr-0.01",
            "DI-Tr-0.01",
            "NDI-Tr-0.1",
            "DI-Tr-0.1",
            "DI-Tr-0.001-euler"
        ]
    );
    assert_eq!(swept, by_hand);
    for scale in [Scale::Smoke, Scale::Paper] {
        assert_eq!(
            stage_keys(&swept_file(), scale),
            stage_keys(&written_out_file(), scale)
        );
    }
}

/// Writes `text` as a pipeline file in `dir`.
fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("ext_nonlinear_alpha.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Changing one value of the grid changes the keys of that value's stages only (and of
/// the stages that read every model); every other stage keeps its key, so its cached
/// outputs are reused.
#[test]
fn changing_one_grid_value_changes_only_its_stages() {
    let text = std::fs::read_to_string(swept_file()).unwrap();
    let old_line = "\"model.DI-Tr.alpha\" = [0.0001, 0.001, 0.01, 0.1]";
    assert!(text.contains(old_line));
    let dir = tempfile::tempdir().unwrap();
    let changed = write(
        dir.path(),
        &text.replace(
            old_line,
            "\"model.DI-Tr.alpha\" = [0.0001, 0.001, 0.03, 0.1]",
        ),
    );
    let before = stage_keys(&swept_file(), Scale::Smoke);
    let after = stage_keys(&changed, Scale::Smoke);
    let gone: Vec<&String> = before
        .keys()
        .filter(|id| !after.contains_key(*id))
        .collect();
    let new: Vec<&String> = after
        .keys()
        .filter(|id| !before.contains_key(*id))
        .collect();
    assert!(
        !gone.is_empty() && gone.iter().all(|id| id.contains("/DI-Tr-0.01")),
        "{gone:?}"
    );
    assert_eq!(gone.len(), new.len());
    assert!(new.iter().all(|id| id.contains("/DI-Tr-0.03")), "{new:?}");
    let rekeyed: Vec<&String> = before
        .iter()
        .filter(|(id, key)| after.get(*id).is_some_and(|k| k != *key))
        .map(|(id, _)| id)
        .collect();
    assert!(!rekeyed.is_empty());
    // Only stages that read every model (each seed's analysis, the summary and the
    // figures) change key; every other model's training stages are reused.
    assert!(
        rekeyed.iter().all(|id| id.ends_with("/analysis")
            || id.ends_with("/summary")
            || id.ends_with("/figures")),
        "stages of single models changed key: {rekeyed:?}"
    );
    assert!(before.keys().filter(|id| id.contains("/train/")).count() > new.len());
}

/// Each malformed grid is a configuration error naming the file and the sweep key, and
/// saying what was expected.
#[test]
fn malformed_grids_are_errors_that_name_the_key() {
    let text = std::fs::read_to_string(swept_file()).unwrap();
    let line = "\"model.DI-Tr.alpha\" = [0.0001, 0.001, 0.01, 0.1]";
    let cases: &[(&str, &[&str])] = &[
        (
            "\"model.DI-Tr.alpha\" = []",
            &["model.DI-Tr.alpha", "empty"],
        ),
        (
            "\"model.DI-Tr.alhpa\" = [0.1]",
            &["model.DI-Tr.alhpa", "alhpa"],
        ),
        (
            "\"model.DI-X.alpha\" = [0.1]",
            &["model.DI-X.alpha", "no [[model]] is named `DI-X`", "DI-Tr"],
        ),
        (
            "\"network.init_half_width\" = [0.1]",
            &["network.init_half_width", "cannot be swept"],
        ),
        (
            "\"model.DI-Tr.alpha\" = [\"big\"]",
            &["model.DI-Tr.alpha", "cannot take the value"],
        ),
        (
            "\"model.DI-Tr.alpha\" = [[0.1]]",
            &["model.DI-Tr.alpha", "numbers, strings or booleans"],
        ),
        (
            "\"model.DI-Tr.alpha\" = 0.1",
            &["model.DI-Tr.alpha", "expected a list"],
        ),
        (
            "\"model.DI-Tr.alpha\" = [0.1, 0.1]",
            &["model.DI-Tr.alpha", "listed twice"],
        ),
        ("\"run.fixed_lr.examples\" = [0]", &["examples"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (replacement, needles) in cases {
        let path = write(dir.path(), &text.replace(line, replacement));
        match load_pipeline(&path, Scale::Smoke) {
            Err(e) => {
                assert!(e.contains("ext_nonlinear_alpha.toml"), "{replacement}: {e}");
                for n in *needles {
                    assert!(e.contains(n), "{replacement}: `{n}` not in: {e}");
                }
            }
            Ok(_) => panic!("{replacement}: accepted"),
        }
    }
    // An error outside the sweep points at the file's own line, as without a sweep.
    let line = text
        .lines()
        .position(|l| l.starts_with("restabilise = true"))
        .unwrap()
        + 1;
    let bad = text.replace("restabilise = true", "restabilise = 3");
    let e = load_pipeline(&write(dir.path(), &bad), Scale::Smoke)
        .err()
        .expect("a wrong type is an error");
    assert!(
        e.contains(&format!("ext_nonlinear_alpha.toml:{line}:"))
            && e.contains("training.restabilise"),
        "{e}"
    );
    // A copy may not take the name of another entry.
    let clash = text.replace("name = \"DI-Tr-0.001-euler\"", "name = \"DI-Tr-0.1\"");
    let e = load_pipeline(&write(dir.path(), &clash), Scale::Smoke)
        .err()
        .expect("a clash is an error");
    assert!(
        e.contains("two [[model]] entries are named `DI-Tr-0.1`"),
        "{e}"
    );
}

/// Two keys on one model span their product, named and labelled in the order written,
/// and a run can be swept too (its copies are runs of their own).
#[test]
fn two_keys_span_a_product_and_runs_can_be_swept() {
    let text = std::fs::read_to_string(swept_file()).unwrap();
    let line = "\"model.DI-Tr.alpha\" = [0.0001, 0.001, 0.01, 0.1]";
    let product = "\"model.DI-Tr.alpha\" = [0.01, 0.1]\n\"model.DI-Tr.init_scale\" = [1, 2, 3]\n\"run.fixed_lr.update.learning_rate\" = [0.01, 0.001]";
    let text = text
        .replace(line, product)
        .replace(
            "label = \"DI (Tr, α={alpha})\"",
            "label = \"DI (α={alpha}, ×{init_scale})\"",
        )
        .replace("run = \"fixed_lr\"", "run = \"fixed_lr-0.001\"");
    let dir = tempfile::tempdir().unwrap();
    let cfg: RegressionConfig = load_pipeline_toml(&write(dir.path(), &text)).unwrap();
    let di: Vec<(String, String, f64, Option<f64>)> = cfg
        .models
        .iter()
        .filter(|m| m.name.starts_with("DI-Tr-0.") && !m.name.ends_with("euler"))
        .map(|m| (m.name.clone(), m.label.clone(), m.alpha, m.init_scale))
        .collect();
    let expect: Vec<(String, String, f64, Option<f64>)> = [0.01, 0.1]
        .iter()
        .flat_map(|a| {
            (1..=3).map(move |s| {
                (
                    format!("DI-Tr-{a}-{s}"),
                    format!("DI (α={a}, ×{s})"),
                    *a,
                    Some(s as f64),
                )
            })
        })
        .collect();
    assert_eq!(di, expect);
    let runs: Vec<(&str, f64)> = cfg
        .runs
        .iter()
        .map(|r| (r.name.as_str(), r.update.learning_rate))
        .collect();
    assert_eq!(runs, [("fixed_lr-0.01", 0.01), ("fixed_lr-0.001", 0.001)]);
    // The run copies are stages of their own.
    let keys = stage_keys(&write(dir.path(), &text), Scale::Smoke);
    assert!(keys.keys().any(|id| id.contains("/fixed_lr-0.01/")));
    assert!(keys.keys().any(|id| id.contains("/fixed_lr-0.001/")));
}
