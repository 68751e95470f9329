//! Bad input gets a clear error naming the file and the field, and a failing stage
//! leaves nothing in the cache.

mod common;

use std::path::PathBuf;

use common::*;
use dinv_experiments::{load_pipeline, Scale};
use dinv_pipeline::Executor;

fn base() -> String {
    std::fs::read_to_string(workspace().join("pipelines/fig3_linear.toml")).unwrap()
}

/// Writes a variant of the linear pipeline and returns the error of loading it.
fn load_error(dir: &tempfile::TempDir, text: &str) -> (PathBuf, String) {
    let path = dir.path().join("bad_pipeline.toml");
    std::fs::write(&path, text).unwrap();
    match load_pipeline(&path, Scale::Smoke) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => (path, e),
    }
}

fn expect(text: String, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (_, err) = load_error(&dir, &text);
    assert!(
        err.contains("bad_pipeline.toml"),
        "error does not name the file: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "error should mention `{n}`: {err}");
    }
}

#[test]
fn malformed_toml_names_file_and_line() {
    expect(base().replace("[network]", "[network"), &[":"]);
}

#[test]
fn unknown_method_is_named() {
    expect(
        base().replacen("method = \"bp\"", "method = \"backprop\"", 1),
        &["backprop", "method"],
    );
}

#[test]
fn unknown_field_is_rejected() {
    expect(
        base().replacen("learning_rate = 0.01", "learnin_rate = 0.01", 1),
        &["learnin_rate"],
    );
}

#[test]
fn non_positive_learning_rate_is_rejected() {
    expect(
        base().replacen("learning_rate = 0.01", "learning_rate = -0.01", 1),
        &["learning_rate", "fixed_lr"],
    );
}

#[test]
fn non_positive_dt_is_rejected() {
    expect(base().replace("dt = 0.1", "dt = 0.0"), &["dt"]);
}

#[test]
fn mismatched_dimensions_are_rejected() {
    expect(
        base().replace(
            "activations = [\"linear\", \"linear\"]",
            "activations = [\"linear\"]",
        ),
        &["activations"],
    );
}

#[test]
fn missing_feedback_is_rejected() {
    expect(
        base().replacen(
            "feedback = { kind = \"uniform\", half_width = 0.5 }\n",
            "",
            1,
        ),
        &["FA", "feedback"],
    );
}

#[test]
fn unknown_experiment_is_rejected() {
    expect(
        base().replace("experiment = \"regression\"", "experiment = \"regresion\""),
        &["regresion", "regression"],
    );
}

#[test]
fn unknown_figure_run_is_rejected() {
    expect(
        base().replacen(
            "run = \"fixed_norm\"\nmetric",
            "run = \"fixed_nrom\"\nmetric",
            1,
        ),
        &["fixed_nrom"],
    );
}

/// A learning rate that makes training blow up: the stage fails with a message naming
/// the model and step, and writes nothing to the cache.
#[test]
fn divergence_is_an_error_and_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let text = base()
        .replacen(
            "learning_rate = 0.01, delta_cap = 10.0 }",
            "learning_rate = 50.0 }",
            1,
        )
        .lines()
        .map(|l| {
            if l.starts_with("seeds =") {
                "seeds = [7]"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("diverge.toml");
    std::fs::write(&path, text).unwrap();
    let p = load_pipeline(&path, Scale::Smoke).unwrap();
    let only = vec!["fig3_linear/fixed_lr/s7/train/BP".to_string()];
    let g = p.graph.select(&only).unwrap();
    let cache = dir.path().join("cache");
    let err = Executor::new(cache.clone())
        .quiet(true)
        .run(&g)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("BP") && (err.contains("diverged") || err.contains("non-finite")),
        "{err}"
    );
    let train_dir = cache.join("regression_train");
    let entries: Vec<_> = std::fs::read_dir(&train_dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        entries.is_empty(),
        "failed stage left {entries:?} in the cache"
    );
}

/// A classification pipeline may leave out `training.di` only when no DI model needs it
/// (the Fashion-MNIST extension does); a DI model without settings is named.
#[test]
fn di_model_without_di_settings_is_named() {
    let fashion = std::fs::read_to_string(
        workspace().join("pipelines/ext_fashion_mnist_classification.toml"),
    )
    .unwrap();
    assert!(!fashion.contains("\ndi = "), "the extension runs no DI");
    let with_di = fashion.replacen(
        "[[figure]]",
        "[[model]]\nname = \"DI-Tr-0.01\"\nlabel = \"DI\"\nmethod = \"di\"\nalpha = 0.01\nfeedback = { kind = \"neg_transpose\" }\n\n[[figure]]",
        1,
    );
    expect(with_di, &["DI-Tr-0.01", "training.di"]);
}

/// `gprime_after` where it would be ignored (linear dynamics apply g' anyway) is an
/// error naming the model and the setting.
#[test]
fn ignored_gprime_after_is_named() {
    let mnist =
        std::fs::read_to_string(workspace().join("pipelines/fig4_mnist_classification.toml"))
            .unwrap();
    let gated = "di = { dynamics = \"nonlinear\", solver = \"steady_state_or_euler\", integration = { dt = 0.1, steps = 10000 }, gprime_after = true }";
    assert!(mnist.contains(gated));
    let linear = mnist.replace(gated, &gated.replace("\"nonlinear\"", "\"linear\""));
    expect(
        linear,
        &["DI-gated-Tr-0.01", "gprime_after", "linear dynamics"],
    );
    // Set for the whole pipeline, it reaches the single-loop models, which ignore it.
    let nonlinear =
        std::fs::read_to_string(workspace().join("pipelines/fig3_nonlinear.toml")).unwrap();
    let pipeline_di = "steps = 10000 } }";
    assert!(nonlinear.contains(pipeline_di));
    let gated = nonlinear.replacen(pipeline_di, "steps = 10000 }, gprime_after = true }", 1);
    expect(gated, &["SDI-", "gprime_after", "sequential DI only"]);
}

fn pipeline_text(file: &str) -> String {
    std::fs::read_to_string(workspace().join("pipelines").join(file)).unwrap()
}

/// `text` with the first occurrence of `from` replaced (which must be there).
fn with(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` not in the pipeline");
    text.replacen(from, to, 1)
}

/// Absurd sizes are errors naming the TOML field, not allocation failures in a stage.
#[test]
fn absurd_layer_sizes_name_the_field() {
    let mnist = pipeline_text("fig4_mnist_classification.toml");
    expect(
        with(&mnist, "hidden = 1000", "hidden = 1000000000"),
        &["network.hidden = 1000000000", "at most 100000"],
    );
    expect(
        with(
            &base(),
            "dims = [30, 20, 10]",
            "dims = [30, 1000000000, 10]",
        ),
        &["network.dims[1] = 1000000000", "at most 100000"],
    );
    // Every width under the cap, the whole too large: the memory estimate names the
    // widest layer and the limit.
    expect(
        with(
            &base(),
            "dims = [30, 20, 10]\nactivations = [\"linear\", \"linear\"]",
            "dims = [30, 90000, 90000, 90000, 10]\nactivations = [\"linear\", \"linear\", \"linear\", \"linear\"]",
        ),
        &["network.dims (widest: network.dims[1] = 90000)", "16.0 GiB", "MAX_STAGE_BYTES"],
    );
    let ae = pipeline_text("fig4_mnist_autoencoder.toml");
    expect(
        with(
            &ae,
            "dims = [784, 500, 250, 30, 250, 500, 784]",
            "dims = [784, 500, 2500000, 30, 250, 500, 784]",
        ),
        &["network.dims[2] = 2500000"],
    );
    expect(
        with(
            &ae,
            "dims = [784, 500, 250, 30, 250, 500, 784]",
            "dims = [100, 50, 40, 30, 40, 50, 100]",
        ),
        &["network.dims[0] = 100", "784"],
    );
}

/// Counts that would allocate in proportion: examples, epochs × examples, batch size,
/// seeds, checkpoints, the block window, t-SNE sizes.
#[test]
fn absurd_counts_name_the_field() {
    expect(
        with(
            &base(),
            "examples = { smoke = 300, paper = 2000 }",
            "examples = { smoke = 300, paper = 1000000000000 }",
        ),
        &[
            "run `fixed_lr`: examples (scale paper) = 1000000000000",
            "at most",
        ],
    );
    expect(
        with(
            &base(),
            "checkpoints = { smoke = 5, paper = 10 }",
            "checkpoints = { smoke = 1000000000000000000, paper = 10 }",
        ),
        &[
            "run `fixed_lr`: checkpoints (scale smoke)",
            "examples at this scale",
        ],
    );
    let seeds: Vec<String> = (0..1001).map(|s| s.to_string()).collect();
    expect(
        with(
            &base(),
            "seeds = { smoke = [1], paper = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }",
            &format!("seeds = {{ smoke = [1], paper = [{}] }}", seeds.join(", ")),
        ),
        &["pipeline.seeds (scale paper)", "1001", "at most 1000"],
    );
    expect(
        with(
            &base(),
            "seeds = { smoke = [1],",
            "seeds = { smoke = [1, 1],",
        ),
        &["pipeline.seeds lists seed 1 twice"],
    );
    let mnist = pipeline_text("fig4_mnist_classification.toml");
    expect(
        with(
            &mnist,
            "epochs = { smoke = 1, paper = 15 }",
            "epochs = { smoke = 1, paper = 1000000000 }",
        ),
        &["training.epochs (scale paper) = 1000000000"],
    );
    expect(
        with(
            &mnist,
            "epochs = { smoke = 1, paper = 15 }",
            "epochs = { smoke = 1, paper = 90000 }",
        ),
        &["training.epochs × data.train_examples (scale paper)"],
    );
    expect(
        with(&mnist, "window = 32", "window = 10000000"),
        &["training.window", "16.0 GiB"],
    );
    expect(
        with(
            &mnist,
            "evaluations_per_epoch = 4",
            "evaluations_per_epoch = 1000000000",
        ),
        &["training.evaluations_per_epoch = 1000000000"],
    );
    let ae = pipeline_text("fig4_mnist_autoencoder.toml");
    expect(
        with(&ae, "batch_size = 100", "batch_size = 1000000000"),
        &[
            "training.batch_size (scale smoke) = 1000000000",
            "data.train_examples",
        ],
    );
    expect(
        with(
            &ae,
            "codes = { smoke = 300, paper = 2000 }",
            "codes = { smoke = 300, paper = 1000000000 }",
        ),
        &["detail.codes", "1000000000"],
    );
    expect(
        with(
            &ae,
            "exaggeration_iters = { smoke = 100, paper = 250 }",
            "exaggeration_iters = { smoke = 100, paper = 1000000 }",
        ),
        &["detail.tsne.exaggeration_iters (scale paper)"],
    );
}

/// The core library's parameter errors name the field once.
#[test]
fn parameter_errors_name_the_field_once() {
    let mnist = pipeline_text("fig4_mnist_classification.toml");
    let dir = tempfile::tempdir().unwrap();
    let (_, err) = load_error(
        &dir,
        &with(&mnist, "learning_rate = 0.001", "learning_rate = -0.001"),
    );
    assert!(
        err.contains("training.update.learning_rate = -0.001: must be positive and finite"),
        "{err}"
    );
    assert!(!err.contains("invalid parameter"), "{err}");
    let (_, err) = load_error(&dir, &base().replace("dt = 0.1", "dt = -1.0"));
    assert!(err.contains("training.di.integration.dt = -1: "), "{err}");
    let (_, err) = load_error(
        &dir,
        &base().replacen(
            "learning_rate = 0.01, delta_cap",
            "learning_rate = 0.0, delta_cap",
            1,
        ),
    );
    assert!(
        err.contains("run `fixed_lr`: update.learning_rate = 0: must be positive"),
        "{err}"
    );
}

/// Figures are checked when the file is loaded, in every kind: methods that match no
/// model (an empty panel, found only after all training before), unknown runs,
/// sources and layers, duplicate ids; the message names the figure and the field.
#[test]
fn figures_are_validated_at_load_time() {
    let mnist = pipeline_text("fig4_mnist_classification.toml");
    expect(
        with(&mnist, "methods = [\"di\"]", "methods = [\"sdi\"]"),
        &["figure `fig4a_di_angle`", "methods = [sdi] match no model"],
    );
    expect(
        with(&mnist, "run = \"online\"", "run = \"offline\""),
        &["figure `fig4a`", "unknown run `offline`", "online"],
    );
    expect(
        with(
            &mnist,
            "run = \"online\"\nmetric",
            "run = \"online\"\nsource = \"gauss_newton\"\nmetric",
        ),
        &["figure `fig4a`", "source"],
    );
    expect(
        with(&mnist, "id = \"fig4a_di\"\n", "id = \"fig4a\"\n"),
        &["figure id `fig4a` is used twice"],
    );
    expect(
        with(&base(), "methods = [\"di\"]", "methods = [\"sdi\"]"),
        &["figure `fig3c`", "match no model"],
    );
    expect(
        with(&base(), "layers = [1]", "layers = [7]"),
        &["figure `fig3_gn_linear`", "layers contains 7"],
    );
    expect(
        with(&base(), "zoom = 200.0", "zoom = nan"),
        &["figure `fig3c`: zoom = NaN"],
    );
    expect(
        with(&base(), "id = \"fig3a\"", "id = \"../../escape\""),
        &["figure id `../../escape`"],
    );
    let ae = pipeline_text("fig4_mnist_autoencoder.toml");
    expect(
        with(
            &ae,
            "models = [\"BP-orthogonal\", \"NDI-Tr-0-random\"]",
            "models = [\"BP-orthogonal\", \"BP-orthogonal\"]",
        ),
        &["detail.models lists `BP-orthogonal` twice"],
    );
    expect(
        with(
            &ae,
            "models = [\"BP-orthogonal\",",
            "models = [\"BP-orthogonl\",",
        ),
        &["detail.models", "BP-orthogonl"],
    );
}

/// Feedback and SSA numbers are checked at load time, naming the model and field.
#[test]
fn feedback_and_ssa_numbers_are_validated() {
    expect(
        with(
            &base(),
            "feedback = { kind = \"uniform\", half_width = 0.5 }",
            "feedback = { kind = \"uniform\", half_width = -0.5 }",
        ),
        &["model `FA`: feedback.half_width = -0.5"],
    );
    expect(
        with(&base(), "ssa = { epsilon = 0.001, learning_rate = 0.05, min_iters = 10, max_iters = 200, margin = 0.01 }\n", "ssa = { epsilon = 0.001, learning_rate = 0.05, min_iters = 10, max_iters = 0, margin = 0.01 }\n"),
        &["training.ssa", "max_iters"],
    );
}

/// A copy of `pipelines/` with one more file, `broken.toml`, that is not valid TOML.
fn folder_with_broken_file(broken: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in dinv_experiments::pipeline_files(&workspace().join("pipelines")).unwrap() {
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join("broken.toml"), broken).unwrap();
    dir
}

/// One malformed file does not block `--only` of another pipeline (a warning naming
/// file, line and column), but fails a full run, and fails a run that selects it.
#[test]
fn a_malformed_file_blocks_only_the_runs_that_need_it() {
    use dinv_experiments::load_selected;
    let broken =
        "[pipeline]\nname = \"broken\"\nexperiment = \"regression\"\n\n[network\ndims = [1, 2]\n";
    let dir = folder_with_broken_file(broken);
    let only = vec!["fig3_linear".to_string()];
    let sel = load_selected(dir.path(), Scale::Smoke, &only).unwrap();
    assert_eq!(
        sel.pipelines
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["fig3_linear"],
        "only the selected pipeline is loaded"
    );
    assert_eq!(sel.warnings.len(), 1, "{:?}", sel.warnings);
    assert!(
        sel.warnings[0].contains("broken.toml:5:"),
        "{}",
        sel.warnings[0]
    );
    // A stage prefix selects its pipeline too.
    let prefix = vec!["fig3_linear/fixed_lr".to_string()];
    let sel = load_selected(dir.path(), Scale::Smoke, &prefix).unwrap();
    assert_eq!(sel.pipelines.len(), 1);

    let err = load_selected(dir.path(), Scale::Smoke, &[]).err().unwrap();
    assert!(err.contains("broken.toml:5:"), "{err}");
    let err = load_selected(dir.path(), Scale::Smoke, &["broken".to_string()])
        .err()
        .unwrap();
    assert!(err.contains("broken.toml:5:"), "{err}");

    // A file whose name cannot be read at all is skipped with a warning under --only.
    let dir = folder_with_broken_file("[pipeline\nname = \"x\"\n");
    let sel = load_selected(dir.path(), Scale::Smoke, &only).unwrap();
    assert_eq!(sel.pipelines.len(), 1);
    assert!(
        sel.warnings.iter().any(|w| w.contains("broken.toml:1:")),
        "{:?}",
        sel.warnings
    );
    // A valid but unselected file is not validated (nor warned about).
    let dir = folder_with_broken_file(
        &base()
            .replace("name = \"fig3_linear\"", "name = \"other\"")
            .replace("dt = 0.1", "dt = 0.0"),
    );
    let sel = load_selected(dir.path(), Scale::Smoke, &only).unwrap();
    assert!(sel.warnings.is_empty(), "{:?}", sel.warnings);
    // A pattern that selects nothing lists the pipelines there are (it used to end in
    // an empty list of "valid names", from the graph of no pipeline).
    let err = load_selected(dir.path(), Scale::Smoke, &["fig3".to_string()])
        .err()
        .unwrap();
    assert!(
        err.contains("selects no pipeline")
            && err.contains("fig3_linear, fig3_nonlinear")
            && err.contains("other"),
        "{err}"
    );
}

/// `pattern_selects` follows `Graph::select`'s segment rule.
#[test]
fn only_patterns_match_pipeline_names_by_segment() {
    use dinv_experiments::pattern_selects;
    assert!(pattern_selects("fig3_linear", "fig3_linear"));
    assert!(pattern_selects("fig3_linear/", "fig3_linear"));
    assert!(pattern_selects("fig3_linear/fixed_lr/s1", "fig3_linear"));
    assert!(!pattern_selects("fig3", "fig3_linear"));
    assert!(!pattern_selects("fig3_linear_x", "fig3_linear"));
    assert!(!pattern_selects("", "fig3_linear"));
}
