//! What a running stage sees ([`StageContext`]) and what a finished stage leaves for its
//! dependents ([`StageOutputs`]).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache;
use crate::config::pretty_json;
use crate::error::StageError;
use crate::progress::{Progress, Reporter};
use crate::seed::{derive_seed, rng_from_seed};
use crate::table::{write_atomic, Table};

/// The outputs of a finished stage: the files of one verified cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageOutputs {
    id: String,
    key: String,
    dir: PathBuf,
    files: Vec<String>,
}

impl StageOutputs {
    pub(crate) fn new(id: String, key: String, dir: PathBuf, files: Vec<String>) -> Self {
        Self {
            id,
            key,
            dir,
            files,
        }
    }

    /// The id of the stage that produced these outputs.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The stage's cache key (hex SHA-256).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The cache entry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names of the output files, sorted (the manifest is not among them).
    pub fn files(&self) -> Vec<String> {
        self.files.clone()
    }

    /// The path of output file `file_name`; errors if the stage did not write it.
    pub fn path(&self, file_name: &str) -> Result<PathBuf, StageError> {
        if self.files.iter().any(|f| f == file_name) {
            Ok(self.dir.join(file_name))
        } else {
            Err(StageError::msg(format!(
                "stage `{}` has no output file `{file_name}` (it has: {})",
                self.id,
                if self.files.is_empty() {
                    "none".to_string()
                } else {
                    self.files.join(", ")
                }
            )))
        }
    }

    /// Reads the table written with `write_table(name, ..)`.
    pub fn table(&self, name: &str) -> Result<Table, StageError> {
        let path = self.path(&format!("{name}.parquet"))?;
        Ok(Table::read_parquet(&path)?)
    }

    /// Reads the JSON value written with `write_json(name, ..)`.
    pub fn json(&self, name: &str) -> Result<serde_json::Value, StageError> {
        let path = self.path(&format!("{name}.json"))?;
        let text = fs::read_to_string(&path)
            .map_err(|e| StageError::with_context(format!("reading {}", path.display()), e))?;
        serde_json::from_str(&text)
            .map_err(|e| StageError::with_context(format!("parsing {}", path.display()), e))
    }
}

/// A checkpoint read back by [`StageContext::checkpoint_load`]: the state the stage
/// saved and its named arrays, bit for bit.
#[derive(Debug)]
pub struct Checkpoint<T> {
    /// The state passed to [`StageContext::checkpoint_save`].
    pub state: T,
    arrays: Vec<(String, Vec<f64>)>,
}

impl<T> Checkpoint<T> {
    /// Takes the array saved as `name`, checking that it has `len` values; an error
    /// (the checkpoint does not fit the stage) names the array.
    pub fn take(&mut self, name: &str, len: usize) -> Result<Vec<f64>, StageError> {
        let k = self
            .arrays
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| StageError::msg(format!("it has no array `{name}`")))?;
        let (_, values) = self.arrays.swap_remove(k);
        if values.len() != len {
            return Err(StageError::msg(format!(
                "array `{name}` has {} values, expected {len}",
                values.len()
            )));
        }
        Ok(values)
    }
}

/// Where and how often a stage checkpoints (see [`StageContext::checkpoint_save`]).
pub(crate) struct CheckpointSlot {
    /// `<cache_root>/<kind>`; the checkpoint is `<key>.checkpoint` in it.
    pub(crate) kind_dir: PathBuf,
    pub(crate) key: String,
    /// `None`: never due.
    pub(crate) every: Option<Duration>,
    /// Whether an existing checkpoint may be resumed from (not when forced).
    pub(crate) resume: bool,
}

/// Where a stage's warnings go: printed at once and kept for [`crate::RunReport::warnings`].
pub(crate) struct Warnings<'a> {
    pub(crate) reporter: &'a Reporter,
    pub(crate) list: &'a Mutex<Vec<String>>,
}

impl Warnings<'_> {
    pub(crate) fn push(&self, text: String) {
        self.reporter.warn(&text);
        if let Ok(mut w) = self.list.lock() {
            w.push(text);
        }
    }
}

/// What a running stage knows of its own specification (the executor fills it in from
/// the stage's `StageSpec`).
pub(crate) struct StageInfo<'a> {
    pub(crate) id: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) params: &'a serde_json::Value,
    pub(crate) inputs: &'a [String],
    pub(crate) master_seed: u64,
}

/// Everything a runner may use: the stage's id, parameters and seed, its inputs' outputs,
/// a staging directory for its own outputs, a progress counter and checkpoints.
pub struct StageContext<'a> {
    spec: StageInfo<'a>,
    seed: u64,
    staging: PathBuf,
    inputs: Vec<StageOutputs>,
    progress: Progress,
    written: HashSet<String>,
    phases: Vec<(String, f64)>,
    checkpoint: CheckpointSlot,
    last_checkpoint: Instant,
    checkpoint_failed: bool,
    warnings: Warnings<'a>,
}

impl<'a> StageContext<'a> {
    pub(crate) fn new(
        spec: StageInfo<'a>,
        staging: PathBuf,
        inputs: Vec<StageOutputs>,
        progress: Progress,
        checkpoint: CheckpointSlot,
        warnings: Warnings<'a>,
    ) -> Self {
        Self {
            seed: derive_seed(spec.master_seed, spec.id),
            spec,
            staging,
            inputs,
            progress,
            written: HashSet::new(),
            phases: Vec::new(),
            checkpoint,
            last_checkpoint: Instant::now(),
            checkpoint_failed: false,
            warnings,
        }
    }

    /// The seconds recorded with [`StageContext::add_phase_time`], in first-use order.
    pub(crate) fn take_phases(&mut self) -> Vec<(String, f64)> {
        std::mem::take(&mut self.phases)
    }
}

impl StageContext<'_> {
    /// The stage's id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The stage's kind.
    pub fn kind(&self) -> &str {
        &self.spec.kind
    }

    /// The stage's parameters as given.
    pub fn params(&self) -> &serde_json::Value {
        &self.spec.params
    }

    /// The parameters deserialised as `T`; the error names the stage and the offending
    /// field's path (e.g. `train.lr`).
    pub fn params_as<T: DeserializeOwned>(&self) -> Result<T, StageError> {
        let (text, line_paths) = pretty_with_paths(&self.spec.params);
        serde_json::from_str(&text).map_err(|e| {
            let path = line_paths
                .get(e.line().saturating_sub(1))
                .filter(|p| !p.is_empty());
            let message = strip_position(&e);
            StageError::msg(match path {
                Some(p) => format!(
                    "stage `{}`: invalid parameter `{p}`: {message}",
                    self.spec.id
                ),
                None => format!("stage `{}`: invalid parameters: {message}", self.spec.id),
            })
        })
    }

    /// The stage's seed, `derive_seed(master_seed, id)`.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A fresh generator positioned at the start of the stage's stream; every call returns
    /// the same sequence.
    pub fn rng(&self) -> ChaCha8Rng {
        rng_from_seed(self.seed)
    }

    /// A second independent stream of this stage, named by `label`
    /// (`rng_from_seed(derive_seed(seed, label))`), e.g. one for data and one for weights.
    pub fn rng_for(&self, label: &str) -> ChaCha8Rng {
        rng_from_seed(derive_seed(self.seed, label))
    }

    /// The outputs of input stage `id`; errors if the stage did not list it as an input.
    pub fn input(&self, id: &str) -> Result<&StageOutputs, StageError> {
        self.inputs.iter().find(|o| o.id == id).ok_or_else(|| {
            StageError::msg(format!(
                "stage `{}` asked for input `{id}` but lists only: {}",
                self.spec.id,
                if self.spec.inputs.is_empty() {
                    "no inputs".to_string()
                } else {
                    self.spec.inputs.join(", ")
                }
            ))
        })
    }

    /// The outputs of all inputs, in the order they are listed.
    pub fn inputs(&self) -> &[StageOutputs] {
        &self.inputs
    }

    /// Writes `t` as output `<name>.parquet`.
    pub fn write_table(&mut self, name: &str, t: &Table) -> Result<(), StageError> {
        let file = self.claim(name, "parquet")?;
        t.write_parquet(&self.staging.join(file))?;
        Ok(())
    }

    /// Writes `v` as output `<name>.json`: pretty-printed, keys sorted, trailing newline.
    pub fn write_json(&mut self, name: &str, v: &serde_json::Value) -> Result<(), StageError> {
        let file = self.claim(name, "json")?;
        let path = self.staging.join(&file);
        write_atomic(&path, pretty_json(v).as_bytes())
            .map_err(|e| StageError::with_context(format!("writing {}", path.display()), e))
    }

    /// Where to write an output file the stage produces itself (PNG, SVG, Markdown, ...).
    /// Use a plain file name: no directories; `manifest.json` is reserved.
    pub fn staging_path(&self, file_name: &str) -> PathBuf {
        self.staging.join(file_name)
    }

    /// Adds `seconds` of wall time to the named phase of this stage's computation (for
    /// benchmarks: [`crate::StageRecord::phases`]). Timings are never part of the
    /// cached outputs, which stay byte-identical from run to run.
    pub fn add_phase_time(&mut self, phase: &str, seconds: f64) {
        match self.phases.iter_mut().find(|(name, _)| name == phase) {
            Some((_, total)) => *total += seconds,
            None => self.phases.push((phase.to_string(), seconds)),
        }
    }

    /// The stage's progress counter.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Reports a problem the stage worked around (printed unless quiet, and listed in
    /// [`crate::RunReport::warnings`]); never part of the outputs.
    pub fn warn(&self, text: &str) {
        self.warnings
            .push(format!("stage `{}`: {text}", self.spec.id));
    }

    /// Whether it is time for a checkpoint: the executor's checkpoint interval
    /// ([`crate::Executor::checkpoint_every`]) has passed since the stage started, or
    /// since its last checkpoint was saved or loaded. A long stage asks at every point
    /// from which it can resume exactly, and saves when this says so.
    pub fn checkpoint_due(&self) -> bool {
        self.checkpoint
            .every
            .is_some_and(|every| self.last_checkpoint.elapsed() >= every)
    }

    /// Saves the stage's progress so far, so that a rerun after a kill, a reboot or a
    /// preempted job resumes from here ([`StageContext::checkpoint_load`]) instead of
    /// starting over. `state` is small state as JSON (integers, strings, finite numbers:
    /// serde_json writes the shortest text that parses back to the same `f64`); `arrays`
    /// are matrices and anything non-finite, stored as raw little-endian `f64`, bit for
    /// bit. The checkpoint replaces the previous one atomically (see the crate docs for
    /// its location and format); it is not part of the stage's outputs or key, and is
    /// removed when the stage completes or fails.
    ///
    /// A checkpoint that cannot be written is a warning, never a failure of the stage.
    pub fn checkpoint_save<T: Serialize>(&mut self, state: &T, arrays: &[(&str, &[f64])]) {
        let slot = &self.checkpoint;
        let written = serde_json::to_value(state)
            .map_err(std::io::Error::other)
            .and_then(|state| {
                cache::write_checkpoint(
                    &slot.kind_dir,
                    &slot.key,
                    &self.spec.id,
                    &self.spec.kind,
                    state,
                    arrays,
                )
            });
        if let Err(e) = written {
            if !self.checkpoint_failed {
                self.checkpoint_failed = true;
                self.warn(&format!(
                    "cannot write its checkpoint {} ({e}); it goes on without",
                    cache::checkpoint_path(&slot.kind_dir, &slot.key).display()
                ));
            }
        }
        self.last_checkpoint = Instant::now();
    }

    /// The checkpoint an interrupted computation of this very stage (same cache key)
    /// left, if any. A checkpoint that is damaged, half-written or whose state does not
    /// parse as `T` is ignored with a warning; with [`crate::Executor::force`] none is
    /// used. A stage that finds the checkpoint unusable for another reason says so with
    /// [`StageContext::warn`] and starts over.
    pub fn checkpoint_load<T: DeserializeOwned>(&mut self) -> Option<Checkpoint<T>> {
        let slot = &self.checkpoint;
        if !slot.resume {
            return None;
        }
        let path = cache::checkpoint_path(&slot.kind_dir, &slot.key);
        let stored = match cache::read_checkpoint(&slot.kind_dir, &slot.key) {
            Ok(None) => return None,
            Ok(Some(c)) => c,
            Err(reason) => {
                self.warn(&format!(
                    "ignoring its checkpoint {} ({reason}): starting over",
                    path.display()
                ));
                return None;
            }
        };
        match serde_json::from_value::<T>(stored.state) {
            Ok(state) => {
                self.warn(&format!(
                    "resuming from the checkpoint {} left by an interrupted run",
                    path.display()
                ));
                self.last_checkpoint = Instant::now();
                Some(Checkpoint {
                    state,
                    arrays: stored.arrays,
                })
            }
            Err(e) => {
                self.warn(&format!(
                    "ignoring its checkpoint {} (its state does not fit this stage: {e}): starting over",
                    path.display()
                ));
                None
            }
        }
    }

    fn claim(&mut self, name: &str, extension: &str) -> Result<String, StageError> {
        let bad = |reason: &str| {
            Err(StageError::msg(format!(
                "stage `{}`: invalid output name `{name}`: {reason}",
                self.spec.id
            )))
        };
        if name.is_empty() {
            return bad("it is empty");
        }
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return bad("use a plain file name without directories or a leading `.`");
        }
        let file = format!("{name}.{extension}");
        if file == crate::cache::MANIFEST {
            return bad("`manifest.json` is reserved for the cache");
        }
        if !self.written.insert(file.clone()) {
            return bad("it was already written");
        }
        Ok(file)
    }
}

/// Pretty JSON of `v` and, for each of its lines, the path of the value on that line.
fn pretty_with_paths(v: &serde_json::Value) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut paths = Vec::new();
    emit(v, "", 0, &mut text, &mut paths);
    (text, paths)
}

fn emit(
    v: &serde_json::Value,
    path: &str,
    indent: usize,
    text: &mut String,
    paths: &mut Vec<String>,
) {
    use serde_json::Value;
    let pad = "  ".repeat(indent + 1);
    let end_pad = "  ".repeat(indent);
    match v {
        Value::Object(map) if !map.is_empty() => {
            text.push_str("{\n");
            paths.push(path.to_string());
            for (i, (k, child)) in map.iter().enumerate() {
                let child_path = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                text.push_str(&pad);
                text.push_str(&serde_json::to_string(k).unwrap_or_default());
                text.push_str(": ");
                emit(child, &child_path, indent + 1, text, paths);
                if i + 1 < map.len() {
                    text.push(',');
                }
                text.push('\n');
            }
            text.push_str(&end_pad);
            text.push('}');
            paths.push(path.to_string());
        }
        Value::Array(items) if !items.is_empty() => {
            text.push_str("[\n");
            paths.push(path.to_string());
            for (i, child) in items.iter().enumerate() {
                let child_path = format!("{path}[{i}]");
                text.push_str(&pad);
                emit(child, &child_path, indent + 1, text, paths);
                if i + 1 < items.len() {
                    text.push(',');
                }
                text.push('\n');
            }
            text.push_str(&end_pad);
            text.push(']');
            paths.push(path.to_string());
        }
        scalar => {
            text.push_str(&serde_json::to_string(scalar).unwrap_or_default());
            paths.push(path.to_string());
        }
    }
}

/// serde_json's message without its " at line L column C" suffix (the position refers to
/// the internal pretty-printed text, not to anything the user wrote).
fn strip_position(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}
