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
    let md = report::render(&summary, scale);
    let path = report_path(root, scale);
    write_atomic(&path, md.as_bytes())?;
    println!("report: {}", path.display());
    Ok(())
}
