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
