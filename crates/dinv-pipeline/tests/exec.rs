//! Scheduling: stages that use rayon inside (the autoencoder's split products) must
//! not make the executor run more stages at once than it has threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dinv_pipeline::{Executor, Graph, StageContext, StageError, StageRunner, StageSpec};
use serde_json::json;

/// A stage that waits inside `rayon::join` many times: while waiting for a stolen
/// half, its thread steals queued work, which must never be a whole other stage.
fn joining_runner(in_flight: Arc<AtomicUsize>, most: Arc<AtomicUsize>) -> Arc<dyn StageRunner> {
    Arc::new(
        move |ctx: &mut StageContext<'_>| -> Result<(), StageError> {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            for k in 0..20 {
                rayon::join(
                    || std::thread::sleep(Duration::from_micros(300 + 50 * (k % 3))),
                    || std::thread::sleep(Duration::from_micros(200)),
                );
            }
            in_flight.fetch_sub(1, Ordering::SeqCst);
            ctx.write_json("done", &json!({ "id": ctx.id() }))
        },
    )
}

#[test]
fn stages_in_flight_never_exceed_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let runner = joining_runner(in_flight.clone(), most.clone());
    let mut graph = Graph::new();
    for i in 0..16 {
        graph
            .add(
                StageSpec::new(format!("stage/{i}"), "joining", 1, runner.clone())
                    .with_params(json!({ "i": i })),
            )
            .unwrap();
    }
    let report = Executor::new(dir.path().to_path_buf())
        .threads(2)
        .quiet(true)
        .run(&graph)
        .unwrap();
    assert_eq!(report.computed(), 16);
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 2, "{most} stages ran at once on 2 threads");
    assert!(most >= 1);
}

/// Phase times a stage records reach its record, summed per phase in first-use order,
/// and stay out of its cached outputs: a cached rerun reports none.
#[test]
fn phase_times_reach_the_record_and_not_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let runner: Arc<dyn StageRunner> =
        Arc::new(|ctx: &mut StageContext<'_>| -> Result<(), StageError> {
            ctx.add_phase_time("batches", 1.5);
            ctx.add_phase_time("evaluation", 0.25);
            ctx.add_phase_time("batches", 2.0);
            ctx.write_json("done", &json!({ "id": ctx.id() }))
        });
    let mut graph = Graph::new();
    graph
        .add(StageSpec::new("timed", "timed", 1, runner))
        .unwrap();
    let exec = Executor::new(dir.path().to_path_buf()).quiet(true);
    let first = exec.run(&graph).unwrap();
    assert_eq!(
        first.record("timed").unwrap().phases,
        vec![
            ("batches".to_string(), 3.5),
            ("evaluation".to_string(), 0.25)
        ]
    );
    let again = exec.run(&graph).unwrap();
    assert_eq!(again.cached(), 1);
    assert!(again.record("timed").unwrap().phases.is_empty());
}

/// A graph of two independent branches, `a/*` and `b/*`, where `a/fail` fails: with
/// `keep_going`, every stage of `b` still runs and enters the cache, only `a/fail`'s
/// dependents are skipped, and the error lists the failure with its cause. Without it,
/// the run stops at the failure. Runs on one thread, so `a/fail` (first in order)
/// fails before `b` has started.
#[test]
fn keep_going_finishes_independent_work_and_lists_failures() {
    use dinv_pipeline::ExecError;
    let ok: Arc<dyn StageRunner> =
        Arc::new(|ctx: &mut StageContext<'_>| ctx.write_json("out", &json!({ "id": ctx.id() })));
    let fail: Arc<dyn StageRunner> = Arc::new(|_: &mut StageContext<'_>| {
        Err(StageError::msg(
            "the data is missing: run `cargo xtask data fetch`",
        ))
    });
    let build = || {
        let mut g = Graph::new();
        g.add(StageSpec::new("a/fail", "failing", 1, fail.clone()))
            .unwrap();
        g.add(StageSpec::new("a/after", "ok", 1, ok.clone()).with_inputs(["a/fail"]))
            .unwrap();
        g.add(StageSpec::new("a/last", "ok", 1, ok.clone()).with_inputs(["a/after"]))
            .unwrap();
        for (id, inputs) in [("b/data", vec![]), ("b/train", vec!["b/data"])] {
            g.add(StageSpec::new(id, "ok", 1, ok.clone()).with_inputs(inputs))
                .unwrap();
        }
        g
    };

    let dir = tempfile::tempdir().unwrap();
    let exec = Executor::new(dir.path().to_path_buf())
        .threads(1)
        .quiet(true);
    let err = exec.run(&build()).unwrap_err();
    assert!(matches!(err, ExecError::Stage { .. }), "{err}");
    let cached = |d: &std::path::Path| std::fs::read_dir(d.join("ok")).map_or(0, |e| e.count());
    assert_eq!(
        cached(dir.path()),
        0,
        "fail-fast ran stages after the failure"
    );

    let err = exec.keep_going(true).run(&build()).unwrap_err();
    let ExecError::Incomplete {
        report,
        failures,
        skipped,
    } = &err
    else {
        panic!("expected Incomplete, got {err}");
    };
    assert_eq!(
        failures.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["a/fail"]
    );
    assert_eq!(skipped, &["a/after", "a/last"]);
    assert!(report.outputs("b/train").is_some());
    assert_eq!(report.computed(), 2);
    assert_eq!(cached(dir.path()), 2);
    let text = err.to_string();
    assert!(
        text.contains("a/fail")
            && text.contains("cargo xtask data fetch")
            && text.contains("2 stage(s) depending"),
        "{text}"
    );
}
