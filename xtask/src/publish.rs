//! Publishing a run: figures into `figures/`, the merged `summary.json` and
//! `timings.json`, and the report `REPRODUCTION.md`, in each folder a run publishes to:
//! `results/<scale>/` always, and `paper/` as well for the project's own pipelines at
//! paper scale (committed there).
//!
//! Runs may overlap (two `cargo xtask reproduce` started together, or a `report` while
//! a `reproduce` publishes): every read-modify-write of a scale's published files
//! happens under an exclusive lock on `results/<scale>/.publish.lock`
//! ([`PublishLock`], an OS file lock, released when the process ends however it ends),
//! and every file is written under a temporary name unique to the process and the
//! write (`.<name>.<pid>.<n>.tmp`, beside the target) and renamed into place. A
//! damaged `summary.json` or `timings.json` (truncated, edited, not a JSON object) is
//! treated like a damaged cache entry: a warning says so, and it is rebuilt from the
//! pipelines of this run; what could not be read is dropped.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use dinv_experiments::{report, Pipeline, Scale};
use dinv_pipeline::RunReport;
use serde_json::{Map, Value};

/// File names inside a folder that is published to.
pub const SUMMARY: &str = "summary.json";
pub const TIMINGS: &str = "timings.json";
pub const REPORT: &str = "REPRODUCTION.md";
pub const FIGURES: &str = "figures";
/// The lock file in `results/<scale>/`.
pub const LOCK: &str = ".publish.lock";

/// Where a workspace's results go.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The workspace root (holds `results/` and `paper/`).
    pub root: PathBuf,
    pub scale: Scale,
    /// A results folder of the caller's choice instead of `results/<scale>/` (then
    /// nothing is published into `paper/`).
    pub results: Option<PathBuf>,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>, scale: Scale) -> Self {
        Layout {
            root: root.into(),
            scale,
            results: None,
        }
    }

    /// The same layout with its results (published files and cache) in `dir`.
    pub fn with_results(mut self, dir: Option<PathBuf>) -> Self {
        self.results = dir;
        self
    }

    /// `results/<scale>/`: published files, the stage cache and the publishing lock.
    pub fn results_dir(&self) -> PathBuf {
        match &self.results {
            Some(dir) => dir.clone(),
            None => self.root.join("results").join(self.scale.name()),
        }
    }

    /// `results/<scale>/cache/`.
    pub fn cache_dir(&self) -> PathBuf {
        self.results_dir().join("cache")
    }

    /// `paper/`, the committed paper-scale results.
    pub fn paper_dir(&self) -> PathBuf {
        self.root.join("paper")
    }

    /// The folder whose summary and report are the scale's reference: `paper/` at paper
    /// scale, `results/smoke/` at smoke scale.
    pub fn primary_dir(&self) -> PathBuf {
        match self.scale {
            Scale::Paper if self.results.is_none() => self.paper_dir(),
            _ => self.results_dir(),
        }
    }

    /// The folders a run publishes to: `results/<scale>/`, and `paper/` too for the
    /// project's own pipelines (`official`) at paper scale. Pipelines from another
    /// folder (`--pipelines DIR`) never publish into `paper/`.
    pub fn targets(&self, official: bool) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if official && self.scale == Scale::Paper && self.results.is_none() {
            out.push(self.paper_dir());
        }
        out.push(self.results_dir());
        out
    }
}

pub fn summary_path(root: &Path, scale: Scale) -> PathBuf {
    Layout::new(root, scale).primary_dir().join(SUMMARY)
}

pub fn timings_path(root: &Path, scale: Scale) -> PathBuf {
    Layout::new(root, scale).primary_dir().join(TIMINGS)
}

pub fn report_path(root: &Path, scale: Scale) -> PathBuf {
    Layout::new(root, scale).primary_dir().join(REPORT)
}

/// An exclusive lock on a scale's published files, held until dropped (or until the
/// process ends, whatever ends it: the OS releases file locks of a dead process).
pub struct PublishLock {
    _file: File,
}

impl PublishLock {
    /// Takes the lock of `results_dir` (creating the folder and the lock file), waiting
    /// for another process that holds it and saying so.
    pub fn acquire(results_dir: &Path) -> Result<PublishLock> {
        fs::create_dir_all(results_dir)
            .with_context(|| format!("creating {}", results_dir.display()))?;
        let path = results_dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                eprintln!(
                    "waiting for another run to finish publishing into {} (lock {})",
                    results_dir.display(),
                    path.display()
                );
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        Ok(PublishLock { _file: file })
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary name `path` is written under: `.<name>.<pid>.<n>.tmp` in the same
/// folder, unique to this process and this write, so that no two writers (threads,
/// processes, or a figure's `.png` and `.svg`) ever share one.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file of its own and a rename, so that
/// `path` holds either its old or its new content, never a mixture.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = temp_path(path);
    let written = (|| -> std::io::Result<()> {
        let mut f = File::create_new(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| {
            format!(
                "writing {} (through {})",
                path.display(),
                tmp.file_name().unwrap_or_default().to_string_lossy()
            )
        });
    }
    Ok(())
}

/// A published JSON map (`summary.json`, `timings.json`: pipeline name → object), read
/// leniently: what cannot be read is reported in `damage` and left out.
#[derive(Debug, Default)]
pub struct ReadMap {
    pub map: Map<String, Value>,
    /// Why (part of) the file was unreadable, if it was.
    pub damage: Option<String>,
}

/// Reads `path` as a map of pipeline name → JSON object. A missing file is an empty
/// map; a file that is not JSON, not an object, or has entries that are not objects is
/// damaged: the readable entries are kept and `damage` says what was dropped. Only an
/// I/O error other than absence is an error.
pub fn read_map(path: &Path) -> Result<ReadMap> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ReadMap::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let damaged = |why: String| ReadMap {
        map: Map::new(),
        damage: Some(why),
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return Ok(damaged(format!("not valid JSON: {e}"))),
    };
    let Value::Object(map) = value else {
        return Ok(damaged("not a JSON object".into()));
    };
    let (good, bad): (Map<String, Value>, Map<String, Value>) =
        map.into_iter().partition(|(_, v)| v.is_object());
    Ok(ReadMap {
        map: good,
        damage: (!bad.is_empty()).then(|| {
            format!(
                "entries that are not objects: {}",
                bad.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }),
    })
}

/// What one pipeline contributes to a publication.
#[derive(Clone, Debug, Default)]
pub struct PipelineOutput {
    pub name: String,
    /// Its entry in `summary.json`; `None` when the run did not reach its summary
    /// stage (the earlier entry stays).
    pub summary: Option<Value>,
    /// Its entry in `timings.json`, likewise.
    pub timings: Option<Value>,
    /// Figure files to publish: the file name (`fig3a.png`) and where it is now.
    pub figures: Vec<(String, PathBuf)>,
}

/// What publishing did.
#[derive(Debug, Default)]
pub struct Published {
    /// Damaged files found and rebuilt.
    pub warnings: Vec<String>,
    /// Every summary written.
    pub summaries: Vec<PathBuf>,
    /// Every report written.
    pub reports: Vec<PathBuf>,
}

/// Each pipeline's published outputs from a run: the figures and summary of the
/// pipelines whose stages ran (or were cached) in it, and their stage times.
pub fn collect(pipes: &[Pipeline], run: &RunReport) -> Result<Vec<PipelineOutput>> {
    let timings = timings(pipes, run);
    let mut out = Vec::new();
    for p in pipes {
        let mut o = PipelineOutput {
            name: p.name.clone(),
            timings: timings.get(&p.name).cloned(),
            ..Default::default()
        };
        if let Some(figs) = run.outputs(&p.figures_stage) {
            for file in figs.files() {
                if file.ends_with(".png") || file.ends_with(".svg") {
                    let path = figs.dir().join(&file);
                    o.figures.push((file, path));
                }
            }
        }
        if let Some(s) = run.outputs(&p.summary_stage) {
            o.summary = Some(s.json("summary").map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        if o.summary.is_some() || o.timings.is_some() || !o.figures.is_empty() {
            out.push(o);
        }
    }
    Ok(out)
}

/// Publishes `outputs` into every folder of `layout.targets(official)` under the
/// scale's lock: figures, then the summary and timings merged into what is there (an
/// entry per pipeline, replaced by this run's), then the report rendered from the
/// merged summary. Damaged summary or timings files are rebuilt (see [`read_map`]) and
/// reported in [`Published::warnings`].
pub fn publish_outputs(
    layout: &Layout,
    official: bool,
    outputs: &[PipelineOutput],
) -> Result<Published> {
    // Read every figure first: nothing is published from a run whose outputs are gone.
    let mut figures = Vec::new();
    for o in outputs {
        for (name, src) in &o.figures {
            let bytes = fs::read(src)
                .with_context(|| format!("reading figure {} of {}", src.display(), o.name))?;
            figures.push((name.as_str(), bytes));
        }
    }
    let _lock = PublishLock::acquire(&layout.results_dir())?;
    let mut published = Published::default();
    for dir in layout.targets(official) {
        for (name, bytes) in &figures {
            write_atomic(&dir.join(FIGURES).join(name), bytes)?;
        }
        let summary = merge(&dir.join(SUMMARY), outputs, |o| &o.summary, &mut published)?;
        let timings = merge(&dir.join(TIMINGS), outputs, |o| &o.timings, &mut published)?;
        let report = dir.join(REPORT);
        render_report(&report, summary, timings, layout.scale)?;
        published.summaries.push(dir.join(SUMMARY));
        published.reports.push(report);
    }
    Ok(published)
}

/// Merges each output's entry (`entry`) into the map at `path` and writes it back;
/// the caller holds the lock. A damaged file is rebuilt and a warning added.
fn merge(
    path: &Path,
    outputs: &[PipelineOutput],
    entry: impl Fn(&PipelineOutput) -> &Option<Value>,
    published: &mut Published,
) -> Result<Map<String, Value>> {
    let ReadMap { mut map, damage } = read_map(path)?;
    if let Some(why) = damage {
        let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
        let kept = if map.is_empty() {
            String::new()
        } else {
            format!(
                " its readable entries ({}) were kept,",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        published.warnings.push(format!(
            "{} is damaged ({why}): rebuilt from this run's pipelines ({});{kept} what could not be read was dropped (running the other pipelines publishes them again, from the cache)",
            path.display(),
            names.join(", ")
        ));
    }
    for o in outputs {
        if let Some(v) = entry(o) {
            map.insert(o.name.clone(), v.clone());
        }
    }
    let text = serde_json::to_string_pretty(&Value::Object(map.clone()))? + "\n";
    write_atomic(path, text.as_bytes())?;
    Ok(map)
}

fn render_report(
    path: &Path,
    summary: Map<String, Value>,
    timings: Map<String, Value>,
    scale: Scale,
) -> Result<()> {
    let md = report::render_with_timings(
        &Value::Object(summary),
        Some(&Value::Object(timings)),
        scale,
    );
    write_atomic(path, md.as_bytes())
}

/// Publishes a run of `pipes` (see [`publish_outputs`]) and prints where it went and
/// any damaged file it rebuilt.
pub fn publish(layout: &Layout, official: bool, pipes: &[Pipeline], run: &RunReport) -> Result<()> {
    let outputs = collect(pipes, run)?;
    let published = publish_outputs(layout, official, &outputs)?;
    for w in &published.warnings {
        eprintln!("warning: {w}");
    }
    for s in &published.summaries {
        println!("summary: {}", s.display());
    }
    for r in &published.reports {
        println!("report: {}", r.display());
    }
    Ok(())
}

/// `cargo xtask report`: rewrites the report of each folder of the scale that has a
/// summary (`paper/` and `results/paper/` at paper scale, `results/smoke/` at smoke
/// scale; the reference folder always) from that summary, under the scale's lock. A
/// damaged summary is an error here, since the report would be made from nothing.
pub fn write_report(root: &Path, scale: Scale) -> Result<Vec<PathBuf>> {
    let layout = Layout::new(root, scale);
    let _lock = PublishLock::acquire(&layout.results_dir())?;
    let mut written = Vec::new();
    for dir in layout.targets(true) {
        let summary_file = dir.join(SUMMARY);
        if dir != layout.primary_dir() && !summary_file.exists() {
            continue;
        }
        let read = |file: &str| -> Result<Map<String, Value>> {
            let path = dir.join(file);
            let r = read_map(&path)?;
            if let Some(why) = r.damage {
                bail!(
                    "{} is damaged ({why}); `cargo xtask reproduce --scale {scale}` rebuilds it (cached stages are not recomputed)",
                    path.display()
                );
            }
            Ok(r.map)
        };
        let (summary, timings) = (read(SUMMARY)?, read(TIMINGS)?);
        let path = dir.join(REPORT);
        render_report(&path, summary, timings, scale)?;
        written.push(path);
    }
    Ok(written)
}

/// `cargo xtask clean`: removes the scale's stage cache and what runs published in
/// `results/<scale>/` (summary, timings, report, figures, leftover temporary files),
/// under the scale's lock. Never touches `paper/`. Returns what it removed.
pub fn clean(root: &Path, scale: Scale) -> Result<Vec<PathBuf>> {
    let layout = Layout::new(root, scale);
    let results = layout.results_dir();
    let mut removed = Vec::new();
    if !results.exists() {
        return Ok(removed);
    }
    let _lock = PublishLock::acquire(&results)?;
    for dir in [layout.cache_dir(), results.join(FIGURES)] {
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            removed.push(dir);
        }
    }
    for entry in fs::read_dir(&results).with_context(|| format!("listing {}", results.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let leftover = name.starts_with('.') && name.ends_with(".tmp");
        if [SUMMARY, TIMINGS, REPORT].contains(&name.as_str()) || leftover {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Stage times of each pipeline, as recorded in the cache (so cached stages report the
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
            .filter(|r| r.place.as_ref().is_some_and(|id| id.pipeline == p.name))
        {
            let secs = rec.compute_seconds;
            total += secs;
            count += 1;
            if secs > slowest.1 {
                slowest = (rec.id.clone(), secs);
            }
            let place = rec.place.as_ref();
            if let Some(model) = place
                .filter(|id| id.step == "train")
                .and_then(|id| id.item.as_deref())
            {
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
