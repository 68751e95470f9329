//! Publishing a run: figures into `results/<scale>/figures/`, the merged
//! `results/<scale>/summary.json`, and the report. At paper scale the figures,
//! summary and report also go to `paper/`, where they are committed.

use std::path::Path;

use anyhow::{Context, Result};
use dinv_experiments::{report, Pipeline, Scale};
use dinv_pipeline::RunReport;
use serde_json::{Map, Value};

/// Writes `bytes` to `path` via a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn read_summary(path: &Path) -> Result<Map<String, Value>> {
    if !path.exists() {
        return Ok(Map::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(v.as_object().cloned().unwrap_or_default())
}

pub fn summary_path(root: &Path, scale: Scale) -> std::path::PathBuf {
    match scale {
        Scale::Paper => root.join("paper").join("summary.json"),
        Scale::Smoke => root.join("results").join("smoke").join("summary.json"),
    }
}

pub fn timings_path(root: &Path, scale: Scale) -> std::path::PathBuf {
    summary_path(root, scale).with_file_name("timings.json")
}

/// Stage times of each pipeline, read from the manifests (so cached stages report the
/// time they took when they were computed). Only pipelines the run covered up to their
/// summary: a run of a few stages (`--only <stage prefix>`) keeps the pipeline's
/// earlier entry instead of replacing it with a partial sum.
fn timings(pipes: &[Pipeline], run: &RunReport) -> Map<String, Value> {
    let mut out = Map::new();
    for p in pipes
        .iter()
        .filter(|p| run.outputs(&p.summary_stage).is_some())
    {
        let mut total = 0.0;
        let mut count = 0;
        let mut slowest = (String::new(), 0.0_f64);
        let mut train = Map::new();
        for rec in run
            .stages
            .iter()
            .filter(|r| r.id.starts_with(&format!("{}/", p.name)))
        {
            let secs = std::fs::read_to_string(rec.dir.join("manifest.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|m| m.get("seconds").and_then(Value::as_f64))
                .unwrap_or(rec.seconds);
            total += secs;
            count += 1;
            if secs > slowest.1 {
                slowest = (rec.id.clone(), secs);
            }
            if let Some(model) = rec.id.split("/train/").nth(1) {
                let e = train.entry(model.to_string()).or_insert(Value::from(0.0));
                *e = Value::from(e.as_f64().unwrap_or(0.0) + secs);
            }
        }
        if count > 0 {
            out.insert(
                p.name.clone(),
                serde_json::json!({
                    "stages": count,
                    "total_seconds": total,
                    "slowest": slowest.0,
                    "slowest_seconds": slowest.1,
                    "train_seconds": train,
                }),
            );
        }
    }
    out
}

pub fn publish(root: &Path, scale: Scale, pipes: &[Pipeline], run: &RunReport) -> Result<()> {
    let results = root.join("results").join(scale.name());
    let mut targets = vec![results.join("figures")];
    if scale == Scale::Paper {
        targets.push(root.join("paper").join("figures"));
    }
    let summary_file = summary_path(root, scale);
    let mut summary = read_summary(&summary_file)?;
    for p in pipes {
        if let Some(out) = run.outputs(&p.figures_stage) {
            for file in out.files() {
                if file.ends_with(".png") || file.ends_with(".svg") {
                    let bytes = std::fs::read(out.dir().join(&file))?;
                    for t in &targets {
                        write_atomic(&t.join(&file), &bytes)?;
                    }
                }
            }
        }
        if let Some(out) = run.outputs(&p.summary_stage) {
            let v = out.json("summary").map_err(|e| anyhow::anyhow!("{e}"))?;
            summary.insert(p.name.clone(), v);
        }
    }
    let text = serde_json::to_string_pretty(&Value::Object(summary))? + "\n";
    write_atomic(&summary_file, text.as_bytes())?;
    let timings_file = timings_path(root, scale);
    let mut all_timings = read_summary(&timings_file)?;
    all_timings.extend(timings(pipes, run));
    write_atomic(
        &timings_file,
        (serde_json::to_string_pretty(&Value::Object(all_timings))? + "\n").as_bytes(),
    )?;
    if scale == Scale::Paper {
        write_atomic(&results.join("summary.json"), text.as_bytes())?;
    }
    write_report(root, scale)?;
    println!("summary: {}", summary_file.display());
    Ok(())
}

pub fn report_path(root: &Path, scale: Scale) -> std::path::PathBuf {
    match scale {
        Scale::Paper => root.join("paper").join("REPRODUCTION.md"),
        Scale::Smoke => root.join("results").join("smoke").join("REPRODUCTION.md"),
    }
}

pub fn write_report(root: &Path, scale: Scale) -> Result<()> {
    let summary = Value::Object(read_summary(&summary_path(root, scale))?);
    let timings = Value::Object(read_summary(&timings_path(root, scale))?);
    let md = report::render_with_timings(&summary, Some(&timings), scale);
    let path = report_path(root, scale);
    write_atomic(&path, md.as_bytes())?;
    println!("report: {}", path.display());
    Ok(())
}
