//! Several real processes sharing one cache directory (this test binary re-executed as
//! children, its role chosen by an environment variable), and panics inside stages as
//! a user sees them on stderr.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dinv_pipeline::{Executor, Graph, StageContext, StageError, StageRunner, StageSpec};
use serde_json::json;

const ROLE: &str = "DINV_CONCURRENT_CHILD";
const CACHE: &str = "DINV_CONCURRENT_CACHE";
const SIDE: &str = "DINV_CONCURRENT_SIDE";

/// Bound on any child's run time.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap_or_else(|| panic!("{name} is not set")))
}

/// Appends `line` to `<side>/runs.log` (one `write` with `O_APPEND`: lines of several
/// processes do not interleave).
fn log_run(side: &Path, line: &str) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(side.join("runs.log"))
        .unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn runs(side: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_to_string(side.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// A stage that records each time its runner runs, takes `millis` and writes an output
/// that depends only on its parameters and inputs.
fn slow_runner(side: PathBuf, millis: u64) -> Arc<dyn StageRunner> {
    Arc::new(
        move |ctx: &mut StageContext<'_>| -> Result<(), StageError> {
            log_run(&side, &format!("{} {}", ctx.id(), std::process::id()));
            fs::write(ctx.staging_path("partial.txt"), "written first")?;
            std::thread::sleep(Duration::from_millis(millis));
            let below: u64 = ctx
                .inputs()
                .iter()
                .map(|i| i.json("out").unwrap()["n"].as_u64().unwrap())
                .sum();
            ctx.write_json("out", &json!({ "id": ctx.id(), "n": below + 1 }))
        },
    )
}

/// `race/a → race/b`, and `race/c` beside them; two kinds.
fn race_graph(side: &Path) -> Graph {
    let mut g = Graph::new();
    g.add(StageSpec::new(
        "race/a",
        "slow",
        1,
        slow_runner(side.into(), 1000),
    ))
    .unwrap();
    g.add(
        StageSpec::new("race/b", "slow", 1, slow_runner(side.into(), 200)).with_inputs(["race/a"]),
    )
    .unwrap();
    g.add(StageSpec::new(
        "race/c",
        "fast",
        1,
        slow_runner(side.into(), 10),
    ))
    .unwrap();
    g
}

/// A stage that runs until `<side>/release` exists.
fn holding_graph(side: &Path) -> Graph {
    let side = side.to_path_buf();
    let runner: Arc<dyn StageRunner> = Arc::new(move |ctx: &mut StageContext<'_>| {
        log_run(&side, &format!("{} {}", ctx.id(), std::process::id()));
        fs::write(ctx.staging_path("partial.txt"), "written first")?;
        let deadline = Instant::now() + CHILD_TIMEOUT;
        while !side.join("release").exists() {
            if Instant::now() > deadline {
                return Err(StageError::msg("never released"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        ctx.write_json("out", &json!({ "id": ctx.id() }))
    });
    let mut g = Graph::new();
    g.add(StageSpec::new("hold/k", "slow", 1, runner)).unwrap();
    g
}

/// Another stage of the same kind: running it sweeps the kind's directory.
fn other_graph(side: &Path) -> Graph {
    let mut g = Graph::new();
    g.add(StageSpec::new(
        "other/x",
        "slow",
        1,
        slow_runner(side.into(), 0),
    ))
    .unwrap();
    g
}

fn spawn(role: &str, cache: &Path, side: &Path) -> Child {
    spawn_with(role, cache, side, &[])
}

fn spawn_with(role: &str, cache: &Path, side: &Path, env: &[(&str, &str)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--ignored", "--nocapture"])
        .envs(env.iter().copied())
        .env(ROLE, role)
        .env(CACHE, cache)
        .env(SIDE, side)
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits at most [`CHILD_TIMEOUT`] for `child` (killing it after that) and returns its
/// output; panics unless it exited 0.
fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + CHILD_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("child timed out:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed:\n{}", text(&out));
    out
}

fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The status each stage had in a child's run, from its `RECORD <id> <status>` lines.
fn records(out: &Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("RECORD "))
        .map(|l| {
            let (id, status) = l.split_once(' ').unwrap();
            (id.to_string(), status.to_string())
        })
        .collect()
}

/// Names under `<cache>/<kind>/` other than the entries `keys`.
fn leftovers(cache: &Path, keys: &[&String]) -> Vec<String> {
    let mut extra = Vec::new();
    for kind in fs::read_dir(cache).unwrap() {
        for e in fs::read_dir(kind.unwrap().path()).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if !keys.iter().any(|k| **k == name) {
                extra.push(name);
            }
        }
    }
    extra
}

#[test]
#[ignore = "run by the tests of this file in a child process"]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let (cache, side) = (env_path(CACHE), env_path(SIDE));
    let exec = Executor::new(cache).threads(2);
    let graph = match role.as_str() {
        "race" => race_graph(&side),
        "hold" => holding_graph(&side),
        "panic" => {
            return panic_child(exec);
        }
        other => panic!("unknown role {other}"),
    };
    // Not quiet: the parent looks for the line saying that a process waits.
    let report = exec.run(&graph).unwrap_or_else(|e| panic!("{e}"));
    for r in &report.stages {
        println!("RECORD {} {:?}", r.id, r.status);
    }
}

/// Four processes start the same graph at once on one cache; returns what each printed
/// after checking that every one succeeded, and that the cache then holds exactly one
/// verified entry per stage and nothing else (no staging directory, lock or checkpoint
/// left): a fresh run finds all three cached and runs nothing.
fn race(env: &[(&str, &str)], side: &Path, cache: &Path) -> Vec<Output> {
    fs::create_dir_all(side).unwrap();
    let started = Instant::now();
    let children: Vec<Child> = (0..4)
        .map(|_| spawn_with("race", cache, side, env))
        .collect();
    let outputs: Vec<Output> = children.into_iter().map(finish).collect();
    eprintln!("4 racing processes took {:?}", started.elapsed());
    let ran = runs(side).len();

    let graph = race_graph(side);
    let keys = Executor::new(cache.to_path_buf()).keys(&graph).unwrap();
    let report = Executor::new(cache.to_path_buf())
        .quiet(true)
        .run(&graph)
        .unwrap();
    assert_eq!(report.cached(), 3);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(runs(side).len(), ran);
    assert_eq!(
        report.outputs("race/b").unwrap().json("out").unwrap()["n"],
        2
    );
    let keys: Vec<&String> = keys.values().collect();
    let extra = leftovers(cache, &keys);
    assert!(extra.is_empty(), "left in the cache: {extra:?}");
    outputs
}

/// Each process's status of stage `id`.
fn statuses(outputs: &[Output], id: &str) -> Vec<String> {
    outputs
        .iter()
        .map(|o| {
            records(o)
                .into_iter()
                .find(|(i, _)| i == id)
                .unwrap_or_else(|| panic!("no record of {id}:\n{}", text(o)))
                .1
        })
        .collect()
}

/// Racing processes: each stage's runner ran once (the others waited for its lock and
/// then found it cached), and one verified entry per stage remains.
#[test]
fn racing_processes_compute_each_stage_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, side) = (tmp.path().join("cache"), tmp.path().join("side"));
    let outputs = race(&[], &side, &cache);
    assert_eq!(
        runs(&side),
        ["race/a", "race/b", "race/c"],
        "a runner ran twice"
    );
    // They did race: some process found a stage being computed by another.
    assert!(
        outputs.iter().any(|o| String::from_utf8_lossy(&o.stderr)
            .contains("waiting: another process is computing this stage")),
        "no process waited"
    );
    for id in ["race/a", "race/b", "race/c"] {
        let s = statuses(&outputs, id);
        assert_eq!(
            s.iter().filter(|s| *s == "Computed").count(),
            1,
            "{id}: {s:?}"
        );
        assert!(s.iter().all(|s| s == "Computed" || s == "Cached"), "{s:?}");
    }
}

/// Without locks (a file system that has none, here `DINV_CACHE_LOCKS=off`), racing
/// processes may each compute a stage: still none fails, the first promotion wins and
/// the others' verified results are discarded with their staging directories.
#[test]
fn racing_processes_without_locks_keep_the_first_result() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, side) = (tmp.path().join("cache"), tmp.path().join("side"));
    let outputs = race(&[("DINV_CACHE_LOCKS", "off")], &side, &cache);
    let ran = runs(&side);
    assert!(
        ran.iter().filter(|id| *id == "race/a").count() > 1,
        "no race: {ran:?}"
    );
    assert!(outputs
        .iter()
        .all(|o| String::from_utf8_lossy(&o.stderr)
            .contains("locks turned off by DINV_CACHE_LOCKS=off")));
    for id in ["race/a", "race/b", "race/c"] {
        assert!(statuses(&outputs, id)
            .iter()
            .all(|s| s == "Computed" || s == "Cached"));
    }
}

/// While a process computes a stage: another run's clean-up (which starts by sweeping
/// the kind's directory) keeps its staging directory, and also a staging directory of
/// the same key whose process id means nothing on this host (as one of another host
/// sharing the cache would); a second process asking for the same stage waits, then
/// finds it cached. Once the stage is done, the clean-up removes the foreign leftover.
#[test]
fn cleanup_never_touches_a_stage_being_computed() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, side) = (tmp.path().join("cache"), tmp.path().join("side"));
    fs::create_dir_all(&side).unwrap();
    let key = Executor::new(cache.clone())
        .keys(&holding_graph(&side))
        .unwrap()
        .remove("hold/k")
        .unwrap();
    let kind_dir = cache.join("slow");

    let holder = spawn("hold", &cache, &side);
    let prefix = format!(".staging-{key}-{}-", holder.id());
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let staging = loop {
        let found = fs::read_dir(&kind_dir).ok().and_then(|d| {
            d.flatten().map(|e| e.path()).find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&prefix)
            })
        });
        if let Some(p) = found.filter(|p| p.join("partial.txt").exists()) {
            break p;
        }
        assert!(Instant::now() < deadline, "the holder never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    let foreign = kind_dir.join(format!(".staging-{key}-4294967-0"));
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("partial.txt"), "another host's").unwrap();

    // A run of another stage of the same kind, in this process.
    let report = Executor::new(cache.clone())
        .quiet(true)
        .run(&other_graph(&side))
        .unwrap();
    assert_eq!(report.computed(), 1);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(staging.join("partial.txt").exists(), "live staging removed");
    assert!(foreign.exists(), "staging of a locked key removed");

    // A second process for the same stage waits for the first.
    let waiter = spawn("hold", &cache, &side);
    std::thread::sleep(Duration::from_millis(300));
    fs::write(side.join("release"), "").unwrap();
    let (first, second) = (finish(holder), finish(waiter));
    assert_eq!(records(&first), [("hold/k".into(), "Computed".into())]);
    assert_eq!(records(&second), [("hold/k".into(), "Cached".into())]);
    assert_eq!(runs(&side), ["hold/k", "other/x"]);

    // Now nobody holds the key: the next run's clean-up removes the foreign leftover.
    let report = Executor::new(cache.clone())
        .quiet(true)
        .run(&other_graph(&side))
        .unwrap();
    assert_eq!(report.cached(), 1);
    assert!(!foreign.exists());
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("removed stale staging directory") && w.contains("4294967")),
        "{:?}",
        report.warnings
    );
    let extra = leftovers(
        &cache,
        &[
            &key,
            &Executor::new(cache.clone())
                .keys(&other_graph(&side))
                .unwrap()["other/x"],
        ],
    );
    assert!(extra.is_empty(), "left in the cache: {extra:?}");
}

/// Runs, not quietly, two stages that panic (one in its own thread, one in a task of
/// the pool: a `rayon::join` half) and prints the error.
fn panic_child(exec: Executor) {
    let direct: Arc<dyn StageRunner> = Arc::new(|ctx: &mut StageContext<'_>| {
        let v: Vec<u64> = Vec::new();
        let i = ctx.seed() as usize % 7 + 3;
        if v.get(i).is_none() {
            panic!("index {i} out of range in the stage");
        }
        Ok(())
    });
    let in_task: Arc<dyn StageRunner> = Arc::new(|_: &mut StageContext<'_>| {
        let ((), ()) = rayon::join(
            || std::thread::sleep(Duration::from_millis(50)),
            || panic!("a task of the stage gave up"),
        );
        Ok(())
    });
    let mut g = Graph::new();
    g.add(StageSpec::new("p/direct", "boom", 1, direct))
        .unwrap();
    g.add(StageSpec::new("p/task", "boom", 1, in_task)).unwrap();
    let err = exec.keep_going(true).run(&g).unwrap_err();
    assert!(err.stage_error().unwrap().is_internal());
    println!("ERROR {err}");
}

/// A panic inside a stage is an internal error naming the stage, its kind, the panic's
/// message and location, and asking for a bug report; the default panic hook's
/// `thread '…' panicked at …` lines do not appear on stderr, whichever thread of the
/// pool panicked.
#[test]
fn a_panic_in_a_stage_is_an_internal_error_without_the_raw_panic_text() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, side) = (tmp.path().join("cache"), tmp.path().join("side"));
    let out = finish(spawn("panic", &cache, &side));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = text(&out);
    assert!(
        stdout.contains(
            "internal error in stage `p/direct` (kind `boom`): the stage panicked: index "
        ) && stdout
            .contains("out of range in the stage (at crates/dinv-pipeline/tests/concurrent.rs:"),
        "{all}"
    );
    assert!(
        stdout.contains("internal error in stage `p/task` (kind `boom`): the stage panicked: a task of the stage gave up"),
        "{all}"
    );
    assert!(
        stdout.contains("This is a bug in dinv: please report it with this message"),
        "{all}"
    );
    assert!(!stderr.contains("panicked at"), "{all}");
    assert!(!stderr.contains("thread '"), "{all}");
    // The run itself reported progress (it was not quiet), and nothing was cached.
    assert!(stderr.contains("[p/direct] failed"), "{all}");
    assert_eq!(fs::read_dir(cache.join("boom")).unwrap().count(), 0);
}
