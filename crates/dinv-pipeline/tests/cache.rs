//! The executor and its cache: what is computed, what is reused, what is never trusted.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dinv_pipeline::{
    ExecError, Executor, Graph, RunReport, StageContext, StageError, StageRunner, StageSpec,
    StageStatus, Table,
};
use rand_chacha::rand_core::Rng;
use serde::Deserialize;
use serde_json::json;

const TRAIN: [&str; 3] = ["train/a", "train/b", "train/c"];
const ALL: [&str; 5] = ["data/gen", "train/a", "train/b", "train/c", "report"];

/// How often each stage's runner was invoked.
#[derive(Default, Clone)]
struct Counts(Arc<BTreeMap<&'static str, AtomicUsize>>);

impl Counts {
    fn new() -> Self {
        Self(Arc::new(
            ALL.iter().map(|&id| (id, AtomicUsize::new(0))).collect(),
        ))
    }

    fn bump(&self, id: &str) {
        if let Some(c) = self.0.get(id) {
            c.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn get(&self, id: &str) -> usize {
        self.0[id].load(Ordering::SeqCst)
    }

    fn all(&self) -> Vec<usize> {
        ALL.iter().map(|id| self.get(id)).collect()
    }
}

fn uniform(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn gen_runner(counts: Counts) -> Arc<dyn StageRunner> {
    Arc::new(
        move |ctx: &mut StageContext<'_>| -> Result<(), StageError> {
            counts.bump(ctx.id());
            #[derive(Deserialize)]
            struct P {
                n: usize,
            }
            let p: P = ctx.params_as()?;
            let mut rng = ctx.rng();
            let x: Vec<f64> = (0..p.n).map(|_| uniform(&mut rng)).collect();
            let mean = x.iter().sum::<f64>() / p.n as f64;
            let t = Table::new()
                .with_i64("i", (0..p.n as i64).collect())?
                .with_f64("x", x)?;
            ctx.write_table("samples", &t)?;
            ctx.write_json("summary", &json!({"n": p.n, "mean": mean}))
        },
    )
}

fn train_runner(counts: Counts) -> Arc<dyn StageRunner> {
    Arc::new(
        move |ctx: &mut StageContext<'_>| -> Result<(), StageError> {
            counts.bump(ctx.id());
            #[derive(Deserialize)]
            struct P {
                scale: f64,
            }
            let p: P = ctx.params_as()?;
            let samples = ctx.input("data/gen")?.table("samples")?;
            let x = samples.f64("x")?;
            let mut rng = ctx.rng();
            ctx.progress().set_total(x.len() as u64);
            let mut value = Vec::with_capacity(x.len());
            for &xi in x {
                value.push(xi * p.scale + 0.01 * uniform(&mut rng));
                ctx.progress().inc(1);
            }
            let t = Table::new()
                .with_str("algorithm", vec![ctx.id().to_string(); x.len()])?
                .with_i64("step", (0..x.len() as i64).collect())?
                .with_f64("value", value)?;
            ctx.write_table("metrics", &t)
        },
    )
}

fn report_runner(counts: Counts) -> Arc<dyn StageRunner> {
    Arc::new(
        move |ctx: &mut StageContext<'_>| -> Result<(), StageError> {
            counts.bump(ctx.id());
            let mut totals = serde_json::Map::new();
            let mut md = String::from("# Report\n");
            for input in ctx.inputs() {
                let total: f64 = input.table("metrics")?.f64("value")?.iter().sum();
                md.push_str(&format!("- {}: {total}\n", input.id()));
                totals.insert(input.id().to_string(), json!(total));
            }
            ctx.write_json("totals", &serde_json::Value::Object(totals))?;
            fs::write(ctx.staging_path("report.md"), md)?;
            Ok(())
        },
    )
}

fn pipeline(counts: &Counts, scales: [f64; 3]) -> Graph {
    let mut g = Graph::new();
    g.add(
        StageSpec::new("data/gen", "gen", 1, gen_runner(counts.clone()))
            .with_params(json!({"n": 200}))
            .with_master_seed(42),
    )
    .unwrap();
    for (id, scale) in TRAIN.iter().zip(scales) {
        g.add(
            StageSpec::new(*id, "train", 1, train_runner(counts.clone()))
                .with_params(json!({"scale": scale}))
                .with_inputs(["data/gen"])
                .with_master_seed(42),
        )
        .unwrap();
    }
    g.add(
        StageSpec::new("report", "report", 1, report_runner(counts.clone()))
            .with_inputs(TRAIN)
            .with_master_seed(42),
    )
    .unwrap();
    g
}

const SCALES: [f64; 3] = [1.0, 2.0, 3.0];

fn computed_ids(report: &RunReport) -> Vec<&str> {
    report
        .stages
        .iter()
        .filter(|r| r.status == StageStatus::Computed)
        .map(|r| r.id.as_str())
        .collect()
}

/// Every directory and file under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                walk(&p, root, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn executor(root: &Path) -> Executor {
    Executor::new(root.to_path_buf()).threads(2).quiet(true)
}

#[test]
fn first_run_computes_everything_and_second_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    let g = pipeline(&counts, SCALES);

    let first = Executor::new(dir.path().to_path_buf())
        .threads(2)
        .run(&g)
        .unwrap();
    assert_eq!((first.computed(), first.cached()), (5, 0));
    assert_eq!(counts.all(), [1, 1, 1, 1, 1]);
    assert_eq!(
        first
            .stages
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ALL,
        "records follow the topological order"
    );

    let second = executor(dir.path()).run(&g).unwrap();
    assert_eq!((second.computed(), second.cached()), (0, 5));
    assert_eq!(counts.all(), [1, 1, 1, 1, 1]);
    for (a, b) in first.stages.iter().zip(&second.stages) {
        assert_eq!((&a.key, &a.dir), (&b.key, &b.dir));
    }

    // Outputs are readable through the report and laid out as documented.
    let out = second.outputs("report").unwrap();
    assert_eq!(out.files(), ["report.md", "totals.json"]);
    assert_eq!(out.dir(), dir.path().join("report").join(out.key()));
    let totals = out.json("totals").unwrap();
    assert_eq!(totals.as_object().unwrap().len(), 3);
    assert!(fs::read_to_string(out.path("report.md").unwrap())
        .unwrap()
        .starts_with("# Report"));
    let metrics = second.outputs("train/b").unwrap().table("metrics").unwrap();
    assert_eq!(metrics.len(), 200);
    assert!(second.outputs("train/b").unwrap().table("nope").is_err());

    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.dir().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["id"], "report");
    assert_eq!(manifest["key"], out.key());
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["inputs"][1]["id"], "train/b");
    assert_eq!(manifest["files"][1]["name"], "totals.json");
    assert!(manifest["crate_version"].is_string() && manifest["seconds"].is_f64());

    // Nothing but finished entries is left in the cache.
    assert!(tree(dir.path()).iter().all(|p| !p.contains(".staging")));
}

#[test]
fn changing_params_recomputes_the_stage_and_its_descendants_only() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    executor(dir.path())
        .run(&pipeline(&counts, SCALES))
        .unwrap();

    let report = executor(dir.path())
        .run(&pipeline(&counts, [1.0, 2.5, 3.0]))
        .unwrap();
    assert_eq!(computed_ids(&report), ["train/b", "report"]);
    assert_eq!(counts.all(), [1, 1, 2, 1, 2]);

    // Going back finds the old entries again.
    let report = executor(dir.path())
        .run(&pipeline(&counts, SCALES))
        .unwrap();
    assert_eq!(report.computed(), 0);
}

#[test]
fn kind_version_and_master_seed_are_part_of_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    executor(dir.path())
        .run(&pipeline(&counts, SCALES))
        .unwrap();

    let mut g = Graph::new();
    for s in pipeline(&counts, SCALES).stages() {
        let mut s = s.clone();
        if s.id == "train/c" {
            s.kind_version = 2;
        }
        g.add(s).unwrap();
    }
    let report = executor(dir.path()).run(&g).unwrap();
    assert_eq!(computed_ids(&report), ["train/c", "report"]);

    let mut g = Graph::new();
    for s in pipeline(&counts, SCALES).stages() {
        g.add(s.clone().with_master_seed(7)).unwrap();
    }
    assert_eq!(executor(dir.path()).run(&g).unwrap().computed(), 5);
}

#[test]
fn force_recomputes_everything_selected() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    let g = pipeline(&counts, SCALES);
    let first = executor(dir.path()).run(&g).unwrap();
    let forced = executor(dir.path()).force(true).run(&g).unwrap();
    assert_eq!(forced.computed(), 5);
    assert_eq!(counts.all(), [2, 2, 2, 2, 2]);
    // Same inputs, same bytes.
    for id in ALL {
        let (a, b) = (first.outputs(id).unwrap(), forced.outputs(id).unwrap());
        for f in a.files() {
            assert_eq!(
                fs::read(a.path(&f).unwrap()).unwrap(),
                fs::read(b.path(&f).unwrap()).unwrap()
            );
        }
    }

    let sub = g.select(&["train/a".to_string()]).unwrap();
    let report = executor(dir.path()).force(true).run(&sub).unwrap();
    assert_eq!(computed_ids(&report), ["data/gen", "train/a"]);
    assert_eq!(counts.all(), [3, 3, 2, 2, 2]);
}

/// Runs the pipeline, damages one file of `train/b`'s entry, and checks that the next run
/// recomputes exactly that stage and reports why.
fn damaged_entry_is_recomputed(damage: impl Fn(&Path), reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    let g = pipeline(&counts, SCALES);
    let first = executor(dir.path()).run(&g).unwrap();
    let entry = first.outputs("train/b").unwrap().dir().to_path_buf();
    damage(&entry);

    let report = executor(dir.path()).run(&g).unwrap();
    assert_eq!(computed_ids(&report), ["train/b"], "{reason}");
    assert_eq!(counts.all(), [1, 1, 2, 1, 1], "{reason}");
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let w = &report.warnings[0];
    assert!(
        w.starts_with(&format!("cache entry {} is corrupt (", entry.display()))
            && w.ends_with("): recomputing"),
        "{w}"
    );
    assert!(w.contains(reason), "expected `{reason}` in: {w}");

    // The repaired entry is valid and identical to the original.
    let again = executor(dir.path()).run(&g).unwrap();
    assert_eq!(again.computed(), 0);
    assert!(again.warnings.is_empty());
    let table = again.outputs("train/b").unwrap().table("metrics").unwrap();
    assert_eq!(table.len(), 200);
}

#[test]
fn truncated_parquet_is_recomputed() {
    damaged_entry_is_recomputed(
        |entry| {
            let f = entry.join("metrics.parquet");
            let bytes = fs::read(&f).unwrap();
            fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
        },
        "`metrics.parquet` has",
    );
}

#[test]
fn flipped_byte_is_recomputed() {
    damaged_entry_is_recomputed(
        |entry| {
            let f = entry.join("metrics.parquet");
            let mut bytes = fs::read(&f).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x01;
            fs::write(&f, &bytes).unwrap();
        },
        "does not match the SHA-256",
    );
}

#[test]
fn missing_output_file_is_recomputed() {
    damaged_entry_is_recomputed(
        |entry| fs::remove_file(entry.join("metrics.parquet")).unwrap(),
        "`metrics.parquet` is missing",
    );
}

#[test]
fn missing_manifest_is_recomputed() {
    damaged_entry_is_recomputed(
        |entry| fs::remove_file(entry.join("manifest.json")).unwrap(),
        "manifest.json is missing",
    );
}

#[test]
fn edited_manifest_is_recomputed() {
    damaged_entry_is_recomputed(
        |entry| {
            let f = entry.join("manifest.json");
            let text = fs::read_to_string(&f).unwrap();
            let edited = text.replace("\"scale\": 2.0", "\"scale\": 2.5");
            assert_ne!(text, edited);
            fs::write(&f, edited).unwrap();
        },
        "does not hash to its key",
    );
}

#[test]
fn garbled_manifest_is_recomputed() {
    damaged_entry_is_recomputed(
        |entry| fs::write(entry.join("manifest.json"), "{ not json").unwrap(),
        "manifest.json is malformed",
    );
}

#[test]
fn unlisted_file_is_recomputed() {
    damaged_entry_is_recomputed(
        |entry| fs::write(entry.join("stray.txt"), "x").unwrap(),
        "`stray.txt` is not in the manifest",
    );
}

fn failing_graph(counts: &Counts, runner: Arc<dyn StageRunner>) -> Graph {
    let mut g = Graph::new();
    for s in pipeline(counts, SCALES).stages() {
        let mut s = s.clone();
        if s.id == "train/b" {
            s.runner = runner.clone();
        }
        g.add(s).unwrap();
    }
    g
}

fn assert_no_entry_for(root: &Path, kind: &str, ok_entries: usize) {
    let names: Vec<String> = fs::read_dir(root.join(kind))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        names.iter().all(|n| !n.starts_with(".staging")),
        "staging dir left behind: {names:?}"
    );
    assert_eq!(names.len(), ok_entries, "{names:?}");
}

#[test]
fn failing_runner_leaves_no_entry_and_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    let failing: Arc<dyn StageRunner> = Arc::new(|ctx: &mut StageContext<'_>| {
        ctx.write_json("partial", &json!({"half": "done"}))?;
        let io = std::io::Error::other("disk on fire");
        Err(StageError::with_context("while writing checkpoints", io))
    });
    let err = executor(dir.path())
        .run(&failing_graph(&counts, failing))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, ExecError::Stage { id, kind, .. } if id == "train/b" && kind == "train")
    );
    assert!(
        msg.starts_with(
            "stage `train/b` (kind `train`) failed: while writing checkpoints: disk on fire"
        ),
        "{msg}"
    );
    assert_eq!(
        counts.get("report"),
        0,
        "dependents of a failed stage must not run"
    );
    // Two other train stages may have succeeded; train/b has nothing in the cache.
    let ok_train = [counts.get("train/a"), counts.get("train/c")]
        .iter()
        .sum::<usize>();
    assert_no_entry_for(dir.path(), "train", ok_train);
    assert_no_entry_for(dir.path(), "report", 0);
    assert!(err.stage_error().is_some());
}

#[test]
fn failure_stops_scheduling_new_stages() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    let failing: Arc<dyn StageRunner> =
        Arc::new(|_: &mut StageContext<'_>| Err(StageError::msg("nope")));
    let mut g = Graph::new();
    g.add(StageSpec::new("first", "x", 1, failing)).unwrap();
    for s in pipeline(&counts, SCALES).stages() {
        g.add(s.clone()).unwrap();
    }
    // One thread: `first` runs alone and fails before anything else is scheduled.
    let err = executor(dir.path()).threads(1).run(&g).unwrap_err();
    assert!(err
        .to_string()
        .contains("stage `first` (kind `x`) failed: nope"));
    assert_eq!(counts.all(), [0, 0, 0, 0, 0]);
}

#[test]
fn panicking_runner_is_an_error_naming_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    let panicking: Arc<dyn StageRunner> = Arc::new(|ctx: &mut StageContext<'_>| {
        fs::write(ctx.staging_path("half.txt"), "x")?;
        let v: Vec<u8> = Vec::new();
        let i = ctx.seed() as usize % 7 + 3;
        if v.get(i).is_none() {
            panic!("index {i} out of range in the runner");
        }
        Ok(())
    });
    let err = executor(dir.path())
        .run(&failing_graph(&counts, panicking))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("stage `train/b` (kind `train`)"), "{msg}");
    assert!(msg.contains("panicked: index"), "{msg}");
    assert!(msg.contains("out of range in the runner"), "{msg}");
    let ok_train = [counts.get("train/a"), counts.get("train/c")]
        .iter()
        .sum::<usize>();
    assert_no_entry_for(dir.path(), "train", ok_train);

    // After fixing the runner everything completes, reusing what succeeded.
    let report = executor(dir.path())
        .run(&pipeline(&counts, SCALES))
        .unwrap();
    assert_eq!(report.cached(), 1 + ok_train);
}

#[test]
fn stale_staging_dirs_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    // A staging directory of a process that cannot exist (above Linux's pid limit).
    let stale = dir.path().join("train").join(".staging-abc-4294967-0");
    fs::create_dir_all(&stale).unwrap();
    fs::write(stale.join("metrics.parquet"), "half").unwrap();
    // One of this process, which may be in use.
    let live = dir
        .path()
        .join("train")
        .join(format!(".staging-def-{}-999999", std::process::id()));
    fs::create_dir_all(&live).unwrap();

    let report = executor(dir.path())
        .run(&pipeline(&Counts::new(), SCALES))
        .unwrap();
    assert!(!stale.exists());
    assert!(live.exists());
    assert!(
        report.warnings.iter().any(|w| w.contains("stale staging")),
        "{:?}",
        report.warnings
    );
}

/// Several independent stages drawing random numbers: outputs must not depend on the
/// number of threads or on scheduling.
fn random_graph() -> Graph {
    let mut g = Graph::new();
    let runner: Arc<dyn StageRunner> = Arc::new(|ctx: &mut StageContext<'_>| {
        let n = ctx.params()["n"].as_u64().unwrap_or(0) as usize;
        let mut rng = ctx.rng();
        let x: Vec<f64> = (0..n).map(|_| uniform(&mut rng)).collect();
        let k: Vec<i64> = (0..n).map(|_| (rng.next_u64() % 1000) as i64).collect();
        // A little real work, so that stages overlap when run in parallel.
        let mut acc = 0.0f64;
        for i in 0..200_000 {
            acc += (i as f64).sqrt();
        }
        let t = Table::new()
            .with_f64("x", x)?
            .with_i64("k", k)?
            .with_str("id", vec![ctx.id().to_string(); n])?;
        ctx.write_table("draws", &t)?;
        ctx.write_json("meta", &json!({"seed": ctx.seed(), "work": acc > 0.0}))
    });
    let merge: Arc<dyn StageRunner> = Arc::new(|ctx: &mut StageContext<'_>| {
        let mut all = Vec::new();
        for input in ctx.inputs() {
            all.extend_from_slice(input.table("draws")?.f64("x")?);
        }
        ctx.write_table("all", &Table::new().with_f64("x", all)?)
    });
    let ids: Vec<String> = (0..8).map(|i| format!("draw/{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        g.add(
            StageSpec::new(id.as_str(), "draw", 1, runner.clone())
                .with_params(json!({"n": 100 + 10 * i}))
                .with_master_seed(2020),
        )
        .unwrap();
    }
    g.add(
        StageSpec::new("merge", "merge", 1, merge)
            .with_inputs(ids.iter().cloned())
            .with_master_seed(2020),
    )
    .unwrap();
    g
}

fn output_bytes(report: &RunReport, graph: &Graph) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    for id in graph.ids() {
        let o = report.outputs(id).unwrap();
        for f in o.files() {
            out.insert(format!("{id}/{f}"), fs::read(o.path(&f).unwrap()).unwrap());
        }
    }
    out
}

#[test]
fn outputs_do_not_depend_on_the_thread_count() {
    let g = random_graph();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r1 = executor(one.path()).threads(1).run(&g).unwrap();
    let r2 = executor(two.path()).threads(2).run(&g).unwrap();
    assert_eq!(r1.computed(), 9);
    let (b1, b2) = (output_bytes(&r1, &g), output_bytes(&r2, &g));
    assert_eq!(b1.len(), 8 * 2 + 1);
    assert_eq!(b1, b2);
    let keys = |r: &RunReport| r.stages.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&r1), keys(&r2));
    // Distinct ids draw distinct numbers.
    assert_ne!(b1["draw/0/draws.parquet"], b1["draw/1/draws.parquet"]);
    let t0 = r1.outputs("draw/0").unwrap().table("draws").unwrap();
    let t1 = r1.outputs("draw/1").unwrap().table("draws").unwrap();
    assert_ne!(t0.f64("x").unwrap()[..10], t1.f64("x").unwrap()[..10]);
}

#[test]
fn params_errors_name_the_stage_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    let mut g = Graph::new();
    for s in pipeline(&counts, SCALES).stages() {
        let mut s = s.clone();
        if s.id == "train/c" {
            s.params = json!({"scale": "big", "other": [1, 2]});
        }
        g.add(s).unwrap();
    }
    let msg = executor(dir.path()).run(&g).unwrap_err().to_string();
    assert!(msg.contains("stage `train/c`"), "{msg}");
    assert!(msg.contains("invalid parameter `scale`"), "{msg}");
    assert!(msg.contains("expected f64"), "{msg}");
}

#[test]
fn undeclared_inputs_and_bad_output_names_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sneaky: Arc<dyn StageRunner> =
        Arc::new(|ctx: &mut StageContext<'_>| ctx.input("train/a").map(|_| ()));
    let mut g = Graph::new();
    g.add(StageSpec::new(
        "train/a",
        "x",
        1,
        Arc::new(|_: &mut StageContext<'_>| Ok(())) as Arc<dyn StageRunner>,
    ))
    .unwrap();
    g.add(StageSpec::new("sneaky", "x", 1, sneaky)).unwrap();
    let msg = executor(dir.path()).run(&g).unwrap_err().to_string();
    assert!(msg.contains("asked for input `train/a`"), "{msg}");

    for name in ["", "../escape", ".hidden", "manifest"] {
        let bad: Arc<dyn StageRunner> =
            Arc::new(move |ctx: &mut StageContext<'_>| ctx.write_json(name, &json!(1)));
        let mut g = Graph::new();
        g.add(StageSpec::new("bad", "x", 1, bad)).unwrap();
        let msg = executor(dir.path()).run(&g).unwrap_err().to_string();
        assert!(msg.contains("invalid output name"), "{name:?}: {msg}");
    }

    let nested: Arc<dyn StageRunner> = Arc::new(|ctx: &mut StageContext<'_>| {
        fs::create_dir(ctx.staging_path("sub"))?;
        Ok(())
    });
    let mut g = Graph::new();
    g.add(StageSpec::new("nested", "x", 1, nested)).unwrap();
    let msg = executor(dir.path()).run(&g).unwrap_err().to_string();
    assert!(msg.contains("not a plain file"), "{msg}");
    assert_no_entry_for(dir.path(), "x", 1);
}

#[test]
fn json_outputs_are_pretty_sorted_and_newline_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let runner: Arc<dyn StageRunner> = Arc::new(|ctx: &mut StageContext<'_>| {
        ctx.write_json("v", &json!({"b": 1, "a": {"d": [1.5], "c": null}}))
    });
    let mut g = Graph::new();
    g.add(StageSpec::new("j", "json", 1, runner)).unwrap();
    let report = executor(dir.path()).run(&g).unwrap();
    let path: PathBuf = report.outputs("j").unwrap().path("v.json").unwrap();
    let text = fs::read_to_string(path).unwrap();
    assert_eq!(
        text,
        "{\n  \"a\": {\n    \"c\": null,\n    \"d\": [\n      1.5\n    ]\n  },\n  \"b\": 1\n}\n"
    );
}

/// Two runs of the same graph in separate caches have equal fingerprints; a changed
/// parameter changes exactly the lines of the stages it reaches (key and outputs).
#[test]
fn fingerprints_name_what_changed() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let counts = Counts::new();
    let run = |dir: &Path, scales| {
        executor(dir)
            .run(&pipeline(&counts, scales))
            .unwrap()
            .fingerprint()
            .unwrap()
    };
    let (fa, fb) = (run(a.path(), SCALES), run(b.path(), SCALES));
    assert_eq!(fa, fb);
    assert!(fa.lines().count() >= ALL.len(), "{fa}");
    assert!(fa.lines().all(|l| l.split(' ').count() == 4), "{fa}");
    let fc = run(c.path(), [1.0, 2.0, 5.0]);
    let changed: std::collections::BTreeSet<&str> = fa
        .lines()
        .zip(fc.lines())
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        changed.into_iter().collect::<Vec<_>>(),
        ["report", "train/c"],
        "{fa}\n{fc}"
    );
}

/// The standing of each stage, by id.
fn states(exec: &Executor, g: &Graph) -> BTreeMap<String, dinv_pipeline::CacheState> {
    exec.status(g)
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.state))
        .collect()
}

#[test]
fn status_tells_cached_missing_and_why_a_stage_is_stale() {
    use dinv_pipeline::CacheState::{Cached, Missing, Stale};
    let dir = tempfile::tempdir().unwrap();
    let counts = Counts::new();
    let exec = executor(dir.path());
    let g = pipeline(&counts, SCALES);
    assert!(states(&exec, &g).values().all(|s| *s == Missing));
    exec.run(&g).unwrap();
    assert!(states(&exec, &g).values().all(|s| *s == Cached));
    assert_eq!(counts.all(), [1, 1, 1, 1, 1], "status runs nothing");

    // One parameter of train/b changed: it is stale for that parameter, the report
    // for its input, and everything else stays cached.
    let g2 = pipeline(&counts, [1.0, 2.5, 3.0]);
    let s = states(&exec, &g2);
    assert_eq!(s["data/gen"], Cached);
    assert_eq!(s["train/a"], Cached);
    assert_eq!(
        s["train/b"],
        Stale(vec!["parameter `scale` changed: 2.0 → 2.5".into()])
    );
    assert_eq!(s["report"], Stale(vec!["input `train/b` changed".into()]));

    // A code version bump names the kind and both versions.
    let mut g3 = Graph::new();
    for st in pipeline(&counts, SCALES).stages() {
        let mut st = st.clone();
        if st.id == "train/c" {
            st.kind_version = 2;
        }
        g3.add(st).unwrap();
    }
    let s = states(&exec, &g3);
    assert_eq!(
        s["train/c"],
        Stale(vec!["code version of `train` changed: 1 → 2".into()])
    );
    assert_eq!(counts.all(), [1, 1, 1, 1, 1]);
}

#[test]
fn archived_entries_are_reused_elsewhere_and_damaged_ones_rejected() {
    let (a, b, archive) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let counts = Counts::new();
    let g = pipeline(&counts, SCALES);
    executor(a.path()).run(&g).unwrap();
    let out = executor(a.path())
        .export_archive(&g, &["train".to_string()], archive.path())
        .unwrap();
    assert_eq!(out.copied.len(), 3);
    assert!(out.copied.iter().all(|(kind, _)| kind == "train"));
    assert!(out.not_cached.is_empty() && out.rejected.is_empty());
    // From an empty cache nothing is copied, and every stage is named as not cached.
    let empty = tempfile::tempdir().unwrap();
    let none = executor(empty.path())
        .export_archive(&g, &[], &empty.path().join("archive"))
        .unwrap();
    assert!(none.copied.is_empty() && none.rejected.is_empty());
    assert_eq!(none.not_cached.len(), 5);
    assert!(none.not_cached.contains(&"report".to_string()));

    // Damage one archived entry: the import rejects it and leaves the others.
    let damaged = archive.path().join("train").join(&out.copied[0].1);
    let file = fs::read_dir(&damaged)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .unwrap();
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&file, bytes).unwrap();
    let r = executor(b.path()).import_archive(archive.path()).unwrap();
    assert_eq!(
        (r.copied.len(), r.rejected.len()),
        (2, 1),
        "{:?}",
        r.rejected
    );
    assert!(!tree(b.path()).iter().any(|p| p.contains(".staging")));

    // In the second cache the two imported stages are cached; everything else runs,
    // and the results are those of the first cache.
    let report = executor(b.path()).run(&g).unwrap();
    let mut computed = computed_ids(&report);
    computed.sort();
    let damaged_id = g
        .stages()
        .iter()
        .find(|s| report.record(&s.id).unwrap().key == out.copied[0].1)
        .unwrap()
        .id
        .clone();
    let mut expected = vec!["data/gen", "report", damaged_id.as_str()];
    expected.sort();
    assert_eq!(computed, expected);
    let first = executor(a.path()).run(&g).unwrap();
    assert_eq!(report.fingerprint().unwrap(), first.fingerprint().unwrap());
}
