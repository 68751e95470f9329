//! A killed MNIST training stage resumes from its checkpoint and ends byte-identical to
//! an uninterrupted run. A real child process (this test binary re-executed) trains
//! one stage of the smoke-scale pipeline, checkpointing at every point it can resume
//! from, and is killed with SIGKILL after its first checkpoint reached the disk; the
//! parent then runs the stage to completion in the same cache and compares every
//! output file with a run that was never interrupted.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dinv_experiments::Scale;
use dinv_pipeline::{Executor, Graph, RunReport};

const ROLE: &str = "DINV_CHECKPOINT_CHILD";
const CACHE: &str = "DINV_CHECKPOINT_CACHE";

/// The graph of one training stage (with its data stage) of a smoke-scale pipeline.
fn stage_graph(pipeline_name: &str, stage: &str) -> Graph {
    pipeline(pipeline_name, Scale::Smoke)
        .graph
        .select(&[stage.to_string()])
        .unwrap()
}

fn run_into(cache: &Path, graph: &Graph, every: Option<Duration>) -> RunReport {
    Executor::new(cache.to_path_buf())
        .threads(2)
        .quiet(true)
        .checkpoint_every(every)
        .run(graph)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs in the child: trains the stage named by `$DINV_CHECKPOINT_CHILD`
/// (`<pipeline> <stage id>`), checkpointing at every opportunity, until killed.
#[test]
#[ignore = "run by the tests of this file in a child process"]
fn child_trains_until_killed() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let (name, stage) = role.split_once(' ').unwrap();
    let cache = PathBuf::from(std::env::var_os(CACHE).unwrap());
    run_into(&cache, &stage_graph(name, stage), Some(Duration::ZERO));
    println!("the child finished before it was killed");
}

struct Killed {
    /// The cache the killed child left, with its checkpoint.
    cache: tempfile::TempDir,
    checkpoint: PathBuf,
}

/// Starts the child on `stage`, waits for its first checkpoint on disk, lets it go on
/// for `extra` (so that it has usually replaced that checkpoint by later ones, and may
/// be writing one), and kills it with SIGKILL; checks it was still running.
fn train_and_kill(name: &str, stage: &str, kind: &str, extra: Duration) -> Killed {
    let cache = tempfile::tempdir().unwrap();
    let key = Executor::new(cache.path().to_path_buf())
        .keys(&stage_graph(name, stage))
        .unwrap()[stage]
        .clone();
    let checkpoint = cache.path().join(kind).join(format!("{key}.checkpoint"));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_trains_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(ROLE, format!("{name} {stage}"))
        .env(CACHE, cache.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !checkpoint.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the child exited ({status}) before its first checkpoint:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "no checkpoint after 120 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(extra);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the child finished before it could be killed: make the stage longer"
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
    assert!(checkpoint.exists(), "the kill left no checkpoint");
    assert!(
        !cache.path().join(kind).join(&key).exists(),
        "the stage completed before the kill"
    );
    Killed { cache, checkpoint }
}

/// The outputs of `stage` in `report` (manifest excepted), file name → bytes.
fn stage_files(report: &RunReport, stage: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let out = files(report.outputs(stage).unwrap().dir());
    assert!(!out.is_empty());
    out
}

/// Resumes the killed run in its cache and checks: it said it resumed, its outputs
/// are byte-identical to `reference`'s, and the kind's directory holds the entry and
/// nothing else (no checkpoint, staging directory or lock).
fn resume_and_compare(
    killed: &Killed,
    graph: &Graph,
    stage: &str,
    kind: &str,
    reference: &RunReport,
) {
    let started = Instant::now();
    let report = run_into(killed.cache.path(), graph, None);
    eprintln!("{stage}: resumed run {:?}", started.elapsed());
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains(stage) && w.contains("resuming from the checkpoint")),
        "{:?}",
        report.warnings
    );
    assert_eq!(
        report.record(stage).unwrap().status,
        dinv_pipeline::StageStatus::Computed
    );
    assert!(
        stage_files(&report, stage) == stage_files(reference, stage),
        "{stage}: the resumed run's outputs differ from the uninterrupted run's"
    );
    assert!(
        !killed.checkpoint.exists(),
        "the checkpoint outlived the stage"
    );
    let left: Vec<String> = std::fs::read_dir(killed.cache.path().join(kind))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        [report.record(stage).unwrap().key.clone()],
        "{left:?}"
    );
}

/// Classification, true DI (whose feedback is re-stabilised as it trains, and whose
/// metric log holds NaN for Euler checks without steps): killed part-way through its
/// epoch, resumed, identical. A checkpoint of another stage key (copied under the BP
/// stage's name) and a damaged one are ignored with a warning, and BP's outputs are
/// still identical to an uninterrupted run's.
#[test]
fn killed_classification_training_resumes_byte_identical() {
    const NAME: &str = "fig4_mnist_classification";
    const KIND: &str = "mnist_classification_train";
    let di = format!("{NAME}/s1/train/DI-Tr-0.01");
    let bp = format!("{NAME}/s1/train/BP");
    let graph = stage_graph(NAME, &di);

    let reference = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let reference_report = run_into(reference.path(), &graph, None);
    let took = started.elapsed();
    eprintln!("{di}: uninterrupted run {took:?}");

    let killed = train_and_kill(NAME, &di, KIND, took / 3);
    eprintln!(
        "{di}: killed with a checkpoint of {} bytes",
        std::fs::metadata(&killed.checkpoint).unwrap().len()
    );

    // Someone else's checkpoint, and a damaged one, are never used.
    let bp_graph = stage_graph(NAME, &bp);
    let bp_reference = run_into(reference.path(), &bp_graph, None);
    for damage in ["foreign", "truncated"] {
        let bp_cache = tempfile::tempdir().unwrap();
        let bp_key = Executor::new(bp_cache.path().to_path_buf())
            .keys(&bp_graph)
            .unwrap()[&bp]
            .clone();
        let target = bp_cache
            .path()
            .join(KIND)
            .join(format!("{bp_key}.checkpoint"));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let bytes = std::fs::read(&killed.checkpoint).unwrap();
        let bytes = match damage {
            "foreign" => bytes,
            _ => bytes[..bytes.len() / 2].to_vec(),
        };
        std::fs::write(&target, bytes).unwrap();
        let report = run_into(bp_cache.path(), &bp_graph, None);
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains(&bp) && w.contains("ignoring its checkpoint")),
            "{damage}: {:?}",
            report.warnings
        );
        assert!(
            stage_files(&report, &bp) == stage_files(&bp_reference, &bp),
            "{damage}"
        );
        assert!(!target.exists());
    }

    resume_and_compare(&killed, &graph, &di, KIND, &reference_report);
}

/// The autoencoder, NDI (whose kept products `B W` and `W B` drift through rank-m
/// corrections between exact recomputations, so the checkpoint must carry them bit for
/// bit): killed part-way, resumed, identical.
#[test]
fn killed_autoencoder_training_resumes_byte_identical() {
    const NAME: &str = "fig4_mnist_autoencoder";
    const KIND: &str = "autoencoder_train";
    let stage = format!("{NAME}/s1/train/NDI-Tr-0-random");
    let graph = stage_graph(NAME, &stage);

    let reference = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let reference_report = run_into(reference.path(), &graph, None);
    let took = started.elapsed();
    eprintln!("{stage}: uninterrupted run {took:?}");

    let killed = train_and_kill(NAME, &stage, KIND, took / 3);
    eprintln!(
        "{stage}: killed with a checkpoint of {} bytes",
        std::fs::metadata(&killed.checkpoint).unwrap().len()
    );
    resume_and_compare(&killed, &graph, &stage, KIND, &reference_report);
}
