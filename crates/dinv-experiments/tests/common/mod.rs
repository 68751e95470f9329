//! Helpers shared by the experiment tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use dinv_experiments::{load_pipeline, Pipeline, Scale};
use dinv_pipeline::{Executor, RunReport};
use serde_json::Value;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn pipeline(name: &str, scale: Scale) -> Pipeline {
    let path = workspace().join("pipelines").join(format!("{name}.toml"));
    load_pipeline(&path, scale).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a pipeline into a fresh cache folder.
pub fn run(p: &Pipeline, cache: &Path, threads: usize) -> RunReport {
    Executor::new(cache.to_path_buf())
        .threads(threads)
        .quiet(true)
        .run(&p.graph)
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn summary(p: &Pipeline, report: &RunReport) -> Value {
    report
        .outputs(&p.summary_stage)
        .expect("summary stage ran")
        .json("summary")
        .expect("summary.json")
}

/// Runs pipeline `name` at smoke scale in a fresh cache on two threads: its summary and
/// the names of its models.
pub fn smoke_summary(name: &str) -> (Value, Vec<String>) {
    let p = pipeline(name, Scale::Smoke);
    let tmp = tempfile::tempdir().unwrap();
    let report = run(&p, tmp.path(), 2);
    let s = summary(&p, &report);
    let models = s["models"].as_object().unwrap().keys().cloned().collect();
    (s, models)
}

/// Rounds every number to `digits` significant digits (as strings in scientific
/// notation), so snapshots ignore last-bit noise but show any real change.
pub fn rounded(v: &Value, digits: usize) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() => Value::String(format!("{:.*e}", digits - 1, x)),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(|x| rounded(x, digits)).collect()),
        // Figure captions are prose, reviewed in the report: not numbers to snapshot.
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "captions")
                .map(|(k, x)| (k.clone(), rounded(x, digits)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// Every file under `dir`, relative path → bytes, skipping manifests (they hold timings).
pub fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "manifest.json") {
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// A summary metric `runs → run → model → key`; panics naming what is missing.
pub fn run_metric(s: &Value, run: &str, model: &str, key: &str) -> f64 {
    s.pointer(&format!("/runs/{run}/{model}/{key}"))
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("missing {run}/{model}/{key} in {s:#}"))
}
