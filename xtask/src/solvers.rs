//! `cargo xtask bench` part two: the time of each DI solver on the same training run,
//! so the fast methods are always measured against the reference (step-by-step Euler).

use std::path::Path;

use anyhow::{anyhow, Result};
use dinv_core::Solver;
use dinv_experiments::regression::{build_from, RegressionConfig};
use dinv_experiments::Scale;
use dinv_pipeline::Executor;
use serde_json::Value;

/// One comparison: a model of a pipeline file, trained on `examples` examples with
/// each solver in turn.
struct Case {
    pipeline: &'static str,
    model: &'static str,
    examples: usize,
    solvers: &'static [Solver],
}

const CASES: &[Case] = &[
    Case {
        pipeline: "fig3_linear",
        model: "DI-Tr-0.01",
        examples: 200,
        solvers: &[Solver::Euler, Solver::PoweredEuler],
    },
    Case {
        pipeline: "fig3_nonlinear",
        model: "DI-Tr-0.001",
        examples: 100,
        solvers: &[Solver::Euler, Solver::SteadyStateOrEuler],
    },
    Case {
        pipeline: "fig3_nonlinear",
        model: "SDI-Tr-0.001",
        examples: 100,
        solvers: &[Solver::Euler, Solver::SteadyStateOrEuler],
    },
];

pub fn compare(root: &Path, tmp: &Path) -> Result<()> {
    println!();
    println!("DI solvers on the same examples (10000 Euler steps of dt = 0.1 as the reference):");
    println!(
        "{:<16} {:<14} {:<24} {:>12} {:>14} {:>16}",
        "pipeline", "model", "solver", "ms/example", "final nmse", "angle to NDI (°)"
    );
    for case in CASES {
        let path = root
            .join("pipelines")
            .join(format!("{}.toml", case.pipeline));
        let base: RegressionConfig =
            dinv_pipeline::load_pipeline_toml(&path).map_err(|e| anyhow!("{e}"))?;
        for &solver in case.solvers {
            let mut cfg = base.clone();
            cfg.models
                .retain(|m| m.name == case.model || m.name == "BP");
            cfg.figures.clear();
            cfg.runs.truncate(1);
            cfg.runs[0].examples = dinv_experiments::spec::Scaled::Same(case.examples);
            cfg.runs[0].eval_every = dinv_experiments::spec::Scaled::Same(case.examples);
            cfg.pipeline.seeds = dinv_experiments::spec::Scaled::Same(vec![1]);
            for m in cfg.models.iter_mut().filter(|m| m.name == case.model) {
                let mut di = m.di.unwrap_or(cfg.training.di);
                di.solver = solver;
                m.di = Some(di);
            }
            let pipe = build_from(cfg, Scale::Paper).map_err(|e| anyhow!(e))?;
            let cache = tmp.join(format!(
                "solvers-{}-{}-{solver:?}",
                case.pipeline, case.model
            ));
            let report = Executor::new(cache.clone())
                .threads(1)
                .quiet(true)
                .run(&pipe.graph)
                .map_err(|e| anyhow!("{e}"))?;
            let train = report
                .stages
                .iter()
                .find(|s| {
                    s.place.as_ref().is_some_and(|id| {
                        id.step == "train" && id.item.as_deref() == Some(case.model)
                    })
                })
                .ok_or_else(|| anyhow!("no training stage for {}", case.model))?;
            let summary = report
                .outputs(&pipe.summary_stage)
                .ok_or_else(|| anyhow!("no summary"))?
                .json("summary")
                .map_err(|e| anyhow!("{e}"))?;
            let get = |k: &str| {
                summary
                    .pointer(&format!("/runs/fixed_lr/{}/{k}", case.model))
                    .and_then(Value::as_f64)
            };
            println!(
                "{:<16} {:<14} {:<24} {:>12.3} {:>14.4e} {:>16.3}",
                case.pipeline,
                case.model,
                format!("{solver:?}"),
                train.seconds * 1e3 / case.examples as f64,
                get("final_nmse").unwrap_or(f64::NAN),
                get("mean_angle_di_ndi_deg").unwrap_or(f64::NAN),
            );
            let _ = std::fs::remove_dir_all(&cache);
        }
    }
    Ok(())
}

/// Examples per second of every MNIST classification model over one paper-scale epoch
/// (60000 examples, one test evaluation, no Euler checks).
pub fn mnist_throughput(root: &Path, tmp: &Path) -> Result<()> {
    use dinv_experiments::classification::{
        build_from as build_classification, ClassificationConfig,
    };
    let path = root
        .join("pipelines")
        .join("fig4_mnist_classification.toml");
    let mut cfg: ClassificationConfig =
        dinv_pipeline::load_pipeline_toml(&path).map_err(|e| anyhow!("{e}"))?;
    cfg.training.epochs = dinv_experiments::spec::Scaled::Same(1);
    cfg.training.evaluations_per_epoch = 1;
    cfg.training.euler_check_every = dinv_experiments::spec::Scaled::Same(0);
    cfg.pipeline.seeds = dinv_experiments::spec::Scaled::Same(vec![1]);
    cfg.figures.clear();
    let n = cfg.data.train_examples.at(Scale::Paper);
    let pipe = build_classification(cfg, Scale::Paper).map_err(|e| anyhow!(e))?;
    epoch_table(
        &pipe.graph,
        &tmp.join("mnist-throughput"),
        &[&format!("MNIST classification, one epoch of {n} examples per model (one stage at a time on all cores, incl. loading and one test evaluation):")],
        n,
        |model| {
            if model.starts_with("DI") {
                "≈ 6200 (DI, 10000 steps)"
            } else {
                "≈ 190"
            }
        },
    )
}

/// Examples per second of every autoencoder algorithm over one paper-scale epoch
/// (60000 images in batches of 100), from the random initialisation (the orthogonal one
/// costs the same), including the per-epoch evaluation on the training and test sets.
pub fn autoencoder_throughput(root: &Path, tmp: &Path) -> Result<()> {
    use dinv_experiments::autoencoder::config::WeightInit;
    use dinv_experiments::autoencoder::{build_from as build_autoencoder, AutoencoderConfig};
    use dinv_experiments::spec::Scaled;
    let path = root.join("pipelines").join("fig4_mnist_autoencoder.toml");
    let mut cfg: AutoencoderConfig =
        dinv_pipeline::load_pipeline_toml(&path).map_err(|e| anyhow!("{e}"))?;
    // Two epochs: the first shares its time with four extra error evaluations, so the
    // second is the steady-state epoch a paper-scale run spends 24 of its 25 in.
    cfg.training.epochs = Scaled::Same(2);
    cfg.pipeline.seeds = Scaled::Same(vec![1]);
    cfg.models.retain(|m| m.init == WeightInit::Random);
    let detail = cfg
        .models
        .first()
        .map(|m| m.name.clone())
        .ok_or_else(|| anyhow!("{}: no model with random initial weights", path.display()))?;
    // (only the training stages run; the detail models must still exist)
    cfg.detail.models = vec![detail];
    cfg.validate()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let n = cfg.data.train_examples.at(Scale::Paper);
    let pipe = build_autoencoder(cfg, Scale::Paper).map_err(|e| anyhow!(e))?;
    epoch_table(
        &pipe.graph,
        &tmp.join("autoencoder-throughput"),
        &[
            &format!("MNIST autoencoder, two epochs of {n} images per model (batches of 100, one stage at a time on all cores)."),
            "The stage's time includes loading and six evaluations of the training and test images (before training, after each quarter",
            "of the first epoch and after the second); examples / s and the authors' figures are for the second epoch's batches alone.",
        ],
        n,
        |model| match model.split('-').next() {
            Some("BP") | Some("FA") => "≈ 10 (16 ms/batch)",
            Some("NDI") => "≈ 50 (84 ms/batch)",
            Some("PBP") => "≈ 75 (126 ms/batch)",
            _ => "–",
        },
    )
}

/// Runs the training stages of `graph` one after the other in a fresh cache under
/// `cache`, each with every core (as a stage has them when it runs alone in
/// `cargo xtask reproduce`; the data stages they need run with the first), and prints,
/// after the `heading` lines, each one's seconds and examples per second (`n` examples
/// per stage) beside the authors' figure for that model. A stage that times its
/// batches ([`dinv_pipeline::StageRecord::phases`]: `last epoch's batches`, or else
/// `batches`) gets its examples per second from them, with its phases in a column of
/// their own.
fn epoch_table(
    graph: &dinv_pipeline::Graph,
    cache: &Path,
    heading: &[&str],
    n: usize,
    authors: impl Fn(&str) -> &'static str,
) -> Result<()> {
    let exec = Executor::new(cache.to_path_buf()).quiet(true);
    println!();
    for line in heading {
        println!("{line}");
    }
    println!(
        "{:<24} {:>10} {:>56} {:>14} {:>26}",
        "model", "stage (s)", "of which (s)", "examples / s", "authors' code (s/epoch)"
    );
    // (stage id, model) of every training stage.
    let train: Vec<(&str, &str)> = graph
        .stages()
        .iter()
        .filter_map(|s| {
            let place = s.place.as_ref().filter(|id| id.step == "train")?;
            Some((s.id.as_str(), place.item.as_deref().unwrap_or("")))
        })
        .collect();
    for (id, model) in train {
        let one = graph
            .select(&[id.to_string()])
            .map_err(|e| anyhow!("{e}"))?;
        let report = exec.run(&one).map_err(|e| anyhow!("{e}"))?;
        let rec = report
            .stages
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| anyhow!("stage {id} did not run"))?;
        let phase = |name: &str| rec.phases.iter().find(|(p, _)| p == name).map(|p| p.1);
        let batches = phase("last epoch's batches").or_else(|| phase("batches"));
        let phases: Vec<String> = rec
            .phases
            .iter()
            .map(|(p, secs)| format!("{p} {secs:.1}"))
            .collect();
        println!(
            "{:<24} {:>10.1} {:>56} {:>14.0} {:>26}",
            model,
            rec.seconds,
            if phases.is_empty() {
                "–".to_string()
            } else {
                phases.join(", ")
            },
            n as f64 / batches.unwrap_or(rec.seconds),
            authors(model)
        );
    }
    let _ = std::fs::remove_dir_all(cache);
    Ok(())
}
