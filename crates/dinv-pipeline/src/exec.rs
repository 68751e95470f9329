//! The executor: runs a graph's stages in dependency order on a thread pool, reusing
//! verified cache entries and promoting new ones atomically.
//!
//! # Several processes sharing one cache
//!
//! Two `cargo xtask reproduce` runs, or many `stage run` jobs of a cluster on a shared
//! file system, may reach the same stage at once. Each computation of a stage holds an
//! exclusive lock on `<kind>/<key>.lock` (see `cache::KeyLock`) from before its lookup
//! under the lock to after its promotion: a second process waits, then finds the entry
//! cached. We chose waiting over letting both compute and keeping the first result
//! because a training stage runs for up to half an hour at paper scale (the second
//! process would burn that for nothing), and because the lock is what makes the rest
//! safe: only its holder writes the stage's checkpoint, and a staging directory or
//! checkpoint of a key whose lock is free belongs to a dead process (on any host), so
//! the clean-up at the start of a run never touches live work. Where the file system
//! offers no locks, a warning says so and the stages run unlocked: both processes
//! compute, the first promotion wins and the other's verified result is discarded
//! (`cache::promote`), and only leftovers older than a day are cleaned up.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, Once};
use std::time::{Duration, Instant};

use crate::cache::{self, Lookup, Manifest, ManifestInput};
use crate::context::{CheckpointSlot, StageContext, StageOutputs, Warnings};
use crate::error::{render_chain, StageError};
use crate::graph::{Graph, GraphError, StageSpec};
use crate::progress::Reporter;
use crate::seed::derive_seed;

/// Whether a stage's outputs came from the cache or were computed in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    /// A verified cache entry was reused.
    Cached,
    /// The runner ran and its outputs entered the cache.
    Computed,
}

/// What happened to one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRecord {
    /// The stage's id.
    pub id: String,
    /// Its typed parts, when the stage has them ([`crate::StageSpec::place`]).
    pub place: Option<crate::StageId>,
    /// The stage's kind.
    pub kind: String,
    /// The stage's cache key.
    pub key: String,
    /// Cached or computed.
    pub status: StageStatus,
    /// Wall time spent on the stage in this run (lookup, or computation and storage).
    pub seconds: f64,
    /// Wall time the stage's computation took when its cache entry was made (this run's
    /// time when computed now, the recorded one when cached).
    pub compute_seconds: f64,
    /// Wall time the stage attributed to named phases of its computation
    /// ([`crate::StageContext::add_phase_time`]); empty when cached.
    pub phases: Vec<(String, f64)>,
    /// The cache entry holding its outputs.
    pub dir: PathBuf,
}

/// The result of a successful run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One record per stage of the graph, in topological order.
    pub stages: Vec<StageRecord>,
    /// Problems found and repaired on the way, e.g. corrupt cache entries that were
    /// recomputed.
    pub warnings: Vec<String>,
    /// Wall time of the whole run.
    pub seconds: f64,
    outputs: HashMap<String, StageOutputs>,
}

impl RunReport {
    /// The outputs of stage `id`, if it was part of the run.
    pub fn outputs(&self, id: &str) -> Option<StageOutputs> {
        self.outputs.get(id).cloned()
    }

    /// Number of stages computed in this run.
    pub fn computed(&self) -> usize {
        self.count(StageStatus::Computed)
    }

    /// Number of stages taken from the cache.
    pub fn cached(&self) -> usize {
        self.count(StageStatus::Cached)
    }

    /// The record of stage `id`.
    pub fn record(&self, id: &str) -> Option<&StageRecord> {
        self.stages.iter().find(|r| r.id == id)
    }

    /// What the run produced, independent of timing: one line per output file,
    /// `<stage id> <cache key> <file> <SHA-256>`, stages in the run's order and files
    /// by name. Two runs whose fingerprints are equal produced byte-identical outputs
    /// under the same keys; `diff` of two fingerprints names what changed (how a
    /// refactoring shows it changed no number). Errors name an unreadable file.
    pub fn fingerprint(&self) -> Result<String, String> {
        let mut out = String::new();
        for rec in &self.stages {
            let Some(o) = self.outputs.get(&rec.id) else {
                continue;
            };
            let mut files = o.files();
            files.sort();
            for f in files {
                let path = o.dir().join(&f);
                let (sha, _) = crate::hash::sha256_file(&path)
                    .map_err(|e| format!("fingerprint: cannot read {}: {e}", path.display()))?;
                out.push_str(&format!("{} {} {f} {sha}\n", rec.id, rec.key));
            }
        }
        Ok(out)
    }

    fn count(&self, status: StageStatus) -> usize {
        self.stages.iter().filter(|r| r.status == status).count()
    }
}

/// A run that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The graph is malformed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A stage failed. The message includes the stage's id and kind and the whole cause
    /// chain, so the error is not repeated as `source()`; [`ExecError::stage_error`] gives
    /// the original.
    #[error("{}", render_stage_failure(id, kind, error, also_failed))]
    Stage {
        /// The first stage that failed.
        id: String,
        /// Its kind.
        kind: String,
        /// Why it failed.
        error: StageError,
        /// Other stages that failed while already running.
        also_failed: Vec<String>,
    },
    /// With [`Executor::keep_going`]: every stage that could run did, but some failed.
    /// `report` holds the stages that completed (cached or computed); `failures` every
    /// failed stage with its error; `skipped` the stages not run because an input failed.
    #[error("{}", render_incomplete(failures, skipped))]
    Incomplete {
        /// The stages that completed.
        report: Box<RunReport>,
        /// Each failed stage, in the order the failures happened.
        failures: Vec<StageFailure>,
        /// Ids of the stages left out because they depend on a failed stage.
        skipped: Vec<String>,
    },
    /// The thread pool could not be created.
    #[error("could not start {threads} worker threads: {message}")]
    ThreadPool {
        /// The requested thread count.
        threads: usize,
        /// rayon's message.
        message: String,
    },
}

impl ExecError {
    /// The failing stage's own error, if a stage failed (the first, for
    /// [`ExecError::Incomplete`]).
    pub fn stage_error(&self) -> Option<&StageError> {
        match self {
            ExecError::Stage { error, .. } => Some(error),
            ExecError::Incomplete { failures, .. } => failures.first().map(|f| &f.error),
            _ => None,
        }
    }
}

/// One stage that failed in a run that went on without it.
#[derive(Debug)]
pub struct StageFailure {
    /// The stage's id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Why it failed.
    pub error: StageError,
}

/// `stage `id` (kind `k`) failed: <causes>`, or for a panic, an internal error with the
/// advice to report it.
fn describe_failure(id: &str, kind: &str, error: &StageError) -> String {
    if error.is_internal() {
        format!(
            "internal error in stage `{id}` (kind `{kind}`): {}. This is a bug in dinv: \
             please report it with this message",
            render_chain(error)
        )
    } else {
        format!(
            "stage `{id}` (kind `{kind}`) failed: {}",
            render_chain(error)
        )
    }
}

fn render_incomplete(failures: &[StageFailure], skipped: &[String]) -> String {
    let mut s = format!(
        "{} stage(s) failed{}:",
        failures.len(),
        match skipped.len() {
            0 => String::new(),
            n => format!(" and {n} stage(s) depending on them did not run"),
        }
    );
    for f in failures {
        s.push_str("\n  - ");
        s.push_str(&describe_failure(&f.id, &f.kind, &f.error));
    }
    s
}

fn render_stage_failure(id: &str, kind: &str, error: &StageError, also: &[String]) -> String {
    let mut s = describe_failure(id, kind, error);
    if !also.is_empty() {
        s.push_str(&format!(" (also failed: {})", also.join(", ")));
    }
    s
}

/// Runs graphs against a cache directory.
///
/// ```no_run
/// # use dinv_pipeline::{Executor, Graph};
/// # fn f(graph: &Graph) -> Result<(), dinv_pipeline::ExecError> {
/// let report = Executor::new("cache".into()).threads(2).run(graph)?;
/// println!("{} computed", report.computed());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Executor {
    cache_root: PathBuf,
    force: bool,
    threads: usize,
    quiet: bool,
    keep_going: bool,
    checkpoint_every: Option<Duration>,
}

/// How often long stages checkpoint by default: a kill loses at most about this much
/// work (plus one block of examples or one batch), and a checkpoint of the largest stage
/// (the autoencoder's, 11.4 MB, fsynced) took 0.09–0.16 s to write in the dev profile
/// on a busy two-core machine: under 0.15 % of the run time.
pub const DEFAULT_CHECKPOINT_EVERY: Duration = Duration::from_secs(120);

/// The checkpoint interval from `DINV_CHECKPOINT_SECONDS` (seconds, `0` = at every
/// point a stage can resume from, `off` = never), else [`DEFAULT_CHECKPOINT_EVERY`].
fn checkpoint_every_from_env() -> Option<Duration> {
    let Some(v) = std::env::var_os("DINV_CHECKPOINT_SECONDS") else {
        return Some(DEFAULT_CHECKPOINT_EVERY);
    };
    let v = v.to_string_lossy();
    let v = v.trim();
    if matches!(v, "off" | "never" | "none") {
        return None;
    }
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
        _ => {
            eprintln!(
                "warning: DINV_CHECKPOINT_SECONDS={v} is not a number of seconds or `off`; \
                 checkpointing every {} s",
                DEFAULT_CHECKPOINT_EVERY.as_secs()
            );
            Some(DEFAULT_CHECKPOINT_EVERY)
        }
    }
}

/// A finished stage, sent from a worker to the scheduler.
struct Done {
    status: StageStatus,
    outputs: StageOutputs,
    seconds: f64,
    compute_seconds: f64,
    phases: Vec<(String, f64)>,
}

impl Executor {
    /// An executor storing its cache under `cache_root`, using all available cores.
    pub fn new(cache_root: PathBuf) -> Self {
        Self {
            cache_root,
            force: false,
            threads: 0,
            quiet: false,
            keep_going: false,
            checkpoint_every: checkpoint_every_from_env(),
        }
    }

    /// How often long stages save a checkpoint ([`StageContext::checkpoint_save`]), at
    /// most: `None` never, `Some(Duration::ZERO)` at every point they can resume from.
    /// The default is [`DEFAULT_CHECKPOINT_EVERY`], or `DINV_CHECKPOINT_SECONDS` (seconds
    /// or `off`) when set.
    pub fn checkpoint_every(mut self, every: Option<Duration>) -> Self {
        self.checkpoint_every = every;
        self
    }

    /// After a stage fails, go on with every stage that does not depend on it, and
    /// report all failures at the end ([`ExecError::Incomplete`], which carries what
    /// completed). Without it (the default), no new stage starts after the first failure.
    pub fn keep_going(mut self, yes: bool) -> Self {
        self.keep_going = yes;
        self
    }

    /// Recompute every stage of the graph even if it is cached; the new entries replace
    /// the old ones. Checkpoints of interrupted runs are not resumed from either.
    pub fn force(mut self, yes: bool) -> Self {
        self.force = yes;
        self
    }

    /// Number of worker threads running independent stages in parallel (0 = all available
    /// cores). Runners that use rayon run on the same pool.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Print nothing (errors are returned, not printed).
    pub fn quiet(mut self, yes: bool) -> Self {
        self.quiet = yes;
        self
    }

    /// The cache directory.
    pub fn cache_root(&self) -> &Path {
        &self.cache_root
    }

    fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// The cache key of every stage of `graph`, by id, without running anything.
    pub fn keys(&self, graph: &Graph) -> Result<HashMap<String, String>, GraphError> {
        graph.validate()?;
        let keys = stage_keys(graph, &graph.topological_order()?);
        Ok(graph
            .stages()
            .iter()
            .zip(keys)
            .map(|(s, k)| (s.id.clone(), k))
            .collect())
    }

    /// Where every stage of `graph` stands against the cache (cached, missing, stale
    /// with the reasons, or corrupt), in graph order, without running anything.
    pub fn status(&self, graph: &Graph) -> Result<Vec<crate::StageState>, GraphError> {
        let keys = self.keys(graph)?;
        crate::status::status(&self.cache_root, graph, &keys)
    }

    /// Copies the verified cache entries of the stages of `graph` whose kind is one of
    /// `kinds` (every kind when empty) into the archive folder `dest` (created if
    /// needed; entries already there are kept). Stages not cached yet are listed in
    /// [`crate::ArchiveReport::not_cached`].
    pub fn export_archive(
        &self,
        graph: &Graph,
        kinds: &[String],
        dest: &Path,
    ) -> Result<crate::ArchiveReport, String> {
        let keys = self.keys(graph).map_err(|e| e.to_string())?;
        let entries: Vec<(String, String, String)> = graph
            .stages()
            .iter()
            .filter(|s| kinds.is_empty() || kinds.contains(&s.kind))
            .map(|s| (s.id.clone(), s.kind.clone(), keys[&s.id].clone()))
            .collect();
        crate::archive::export(&self.cache_root, &entries, dest)
            .map_err(|e| format!("exporting to {}: {e}", dest.display()))
    }

    /// Copies every entry of the archive folder `src` into this cache, verifying each:
    /// a damaged entry is rejected, an entry already cached is kept.
    pub fn import_archive(&self, src: &Path) -> Result<crate::ArchiveReport, String> {
        crate::archive::import(src, &self.cache_root)
            .map_err(|e| format!("importing {}: {e}", src.display()))
    }

    /// Runs every stage of `graph` that is not cached (all of them with `force`), each as
    /// soon as its inputs are ready. On the first failure no new stage starts; stages
    /// already running finish, and the error names the failing stage. With
    /// [`Executor::keep_going`], every stage whose inputs completed still runs.
    pub fn run(&self, graph: &Graph) -> Result<RunReport, ExecError> {
        let started = Instant::now();
        graph.validate()?;
        let order = graph.topological_order()?;
        let keys = stage_keys(graph, &order);
        let reporter = Reporter::new(self.quiet);
        let warnings = Mutex::new(Vec::new());

        let mut kinds: Vec<&str> = graph.stages().iter().map(|s| s.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            for path in cache::remove_stale_staging(&self.cache_root.join(kind)) {
                let what = if path.extension().is_some_and(|e| e == "checkpoint") {
                    "checkpoint"
                } else {
                    "staging directory"
                };
                let text = format!("removed stale {what} {}", path.display());
                reporter.warn(&text);
                push(&warnings, text);
            }
        }

        install_panic_hook();
        let threads = self.thread_count();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("dinv-stage-{i}"))
            .start_handler(|_| STAGE_THREAD.set(true))
            .build()
            .map_err(|e| ExecError::ThreadPool {
                threads,
                message: e.to_string(),
            })?;

        let shared = Shared {
            reporter: &reporter,
            warnings: &warnings,
            lock_warned: AtomicBool::new(false),
        };
        let (mut done, failures) = self.schedule(&pool, graph, &order, &keys, &shared);
        let stages = graph.stages();
        let n = stages.len();

        let failures = if self.keep_going {
            failures
        } else {
            let mut failures = failures.into_iter();
            if let Some((i, error)) = failures.next() {
                return Err(ExecError::Stage {
                    id: stages[i].id.clone(),
                    kind: stages[i].kind.clone(),
                    error,
                    also_failed: failures.map(|(j, _)| stages[j].id.clone()).collect(),
                });
            }
            Vec::new()
        };

        let mut report = RunReport {
            stages: Vec::with_capacity(n),
            warnings: warnings.into_inner().unwrap_or_default(),
            seconds: 0.0,
            outputs: HashMap::new(),
        };
        for &i in &order {
            let Some(d) = done[i].take() else { continue };
            report.stages.push(StageRecord {
                id: stages[i].id.clone(),
                place: stages[i].place.clone(),
                kind: stages[i].kind.clone(),
                key: keys[i].clone(),
                status: d.status,
                seconds: d.seconds,
                compute_seconds: d.compute_seconds,
                phases: d.phases,
                dir: d.outputs.dir().to_path_buf(),
            });
            report.outputs.insert(stages[i].id.clone(), d.outputs);
        }
        report.seconds = started.elapsed().as_secs_f64();
        reporter.summary(n, report.computed(), report.cached(), report.seconds);
        if failures.is_empty() {
            return Ok(report);
        }
        let failed: Vec<usize> = failures.iter().map(|(i, _)| *i).collect();
        let skipped = order
            .iter()
            .filter(|&&i| !failed.contains(&i) && report.record(&stages[i].id).is_none())
            .map(|&i| stages[i].id.clone())
            .collect();
        Err(ExecError::Incomplete {
            report: Box::new(report),
            failures: failures
                .into_iter()
                .map(|(i, error)| StageFailure {
                    id: stages[i].id.clone(),
                    kind: stages[i].kind.clone(),
                    error,
                })
                .collect(),
            skipped,
        })
    }

    /// Runs the stages on `pool`, each as soon as its inputs are done; after the first
    /// failure, stages not yet started are skipped. Returns each stage's result (`None` if
    /// it did not run) and the failures in the order they happened.
    fn schedule(
        &self,
        pool: &rayon::ThreadPool,
        graph: &Graph,
        order: &[usize],
        keys: &[String],
        shared: &Shared<'_>,
    ) -> (Vec<Option<Done>>, Vec<(usize, StageError)>) {
        let stages = graph.stages();
        let n = stages.len();
        let position: HashMap<&str, usize> = stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut missing: Vec<usize> = stages.iter().map(|s| s.inputs.len()).collect();
        let mut dependents = vec![Vec::new(); n];
        for (i, s) in stages.iter().enumerate() {
            for input in &s.inputs {
                dependents[position[input.as_str()]].push(i);
            }
        }
        let mut done: Vec<Option<Done>> = (0..n).map(|_| None).collect();
        let mut failures: Vec<(usize, StageError)> = Vec::new();
        // Set by the first failure; stages that have not started yet are then skipped.
        let stop = AtomicBool::new(false);

        pool.in_place_scope(|scope| {
            let (tx, rx) = mpsc::channel::<(usize, Result<Option<Done>, StageError>)>();
            let mut running = 0usize;
            let spawn = |i: usize, done: &[Option<Done>]| {
                let inputs: Vec<StageOutputs> = stages[i]
                    .inputs
                    .iter()
                    .filter_map(|id| done[position[id.as_str()]].as_ref())
                    .map(|d| d.outputs.clone())
                    .collect();
                let tx = tx.clone();
                let (key, stop) = (&keys[i], &stop);
                scope.spawn(move |_| {
                    if stop.load(Ordering::SeqCst) {
                        let _ = tx.send((i, Ok(None)));
                        return;
                    }
                    PANIC_LOCATION.set(None);
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        self.resolve(&stages[i], key, inputs, shared)
                    }))
                    .unwrap_or_else(|panic| Err(internal_error("the executor", panic.as_ref())))
                    .map(Some);
                    if result.is_err() && !self.keep_going {
                        stop.store(true, Ordering::SeqCst);
                    }
                    // The scheduler outlives every worker, so the channel is open.
                    let _ = tx.send((i, result));
                });
            };
            // No more stages in the pool than it has threads: a stage that waits inside
            // `rayon::join` (the autoencoder's split products) lets its thread steal
            // queued work, and a queued *stage* would then run to completion inside
            // that join, stalling the first stage for minutes. Ready stages wait here.
            let slots = pool.current_num_threads().max(1);
            let mut ready: VecDeque<usize> =
                order.iter().copied().filter(|&i| missing[i] == 0).collect();
            loop {
                while running < slots {
                    let Some(i) = ready.pop_front() else { break };
                    spawn(i, &done);
                    running += 1;
                }
                if running == 0 {
                    break;
                }
                let Ok((i, result)) = rx.recv() else { break };
                running -= 1;
                match result {
                    Ok(None) => {}
                    Ok(Some(d)) => {
                        done[i] = Some(d);
                        if failures.is_empty() || self.keep_going {
                            for &d in &dependents[i] {
                                missing[d] -= 1;
                                if missing[d] == 0 {
                                    ready.push_back(d);
                                }
                            }
                        }
                    }
                    Err(e) => failures.push((i, e)),
                }
            }
        });
        (done, failures)
    }

    /// Reuses the stage's cache entry if it is valid, otherwise computes it, holding the
    /// stage key's lock from the second lookup to the promotion (see the module docs).
    fn resolve(
        &self,
        spec: &StageSpec,
        key: &str,
        inputs: Vec<StageOutputs>,
        shared: &Shared<'_>,
    ) -> Result<Done, StageError> {
        let started = Instant::now();
        let kind_dir = self.cache_root.join(&spec.kind);
        let final_dir = kind_dir.join(key);
        // Entries appear atomically, so a valid one needs no lock.
        if !self.force {
            if let Some(done) = self.cached(spec, &final_dir, key, shared, started, false) {
                return Ok(done);
            }
        }
        let lock = match cache::lock_key(&kind_dir, key, || shared.reporter.waiting(&spec.id)) {
            Ok((lock, _waited)) => Some(lock),
            Err(e) => {
                if !shared.lock_warned.swap(true, Ordering::SeqCst) {
                    shared.warn(format!(
                        "cannot lock stages in {} ({e}): if another process computes the same \
                         stage at the same time, both compute it and the first result is kept",
                        kind_dir.display()
                    ));
                }
                None
            }
        };
        if !self.force {
            // Another process may have computed it while this one waited for the lock
            // (unless forced: this run then recomputes whatever is there). A corrupt
            // entry is repaired only now that nobody else can be writing it.
            if let Some(done) = self.cached(spec, &final_dir, key, shared, started, true) {
                return Ok(done);
            }
        }

        let staging = cache::create_staging(&kind_dir, key).map_err(|e| {
            StageError::with_context(
                format!(
                    "cannot create a staging directory in {}",
                    kind_dir.display()
                ),
                e,
            )
        })?;
        let result = self.compute(spec, key, &staging, &final_dir, inputs, shared, started);
        if result.is_err() && staging.exists() {
            let _ = fs::remove_dir_all(&staging);
        }
        // Done with, whether the stage completed or failed (a failure is no interruption:
        // resuming would fail again, or hide a fix); only a killed run leaves one.
        if let Err(e) = cache::remove_checkpoint(&kind_dir, key) {
            shared.warn(format!(
                "cannot remove the checkpoint {}: {e}",
                cache::checkpoint_path(&kind_dir, key).display()
            ));
        }
        drop(lock);
        result
    }

    /// The stage's entry if it is valid. With `repair`, a corrupt entry is reported and
    /// removed (only under the stage's lock: without it, it may be another process's
    /// forced replacement in progress).
    fn cached(
        &self,
        spec: &StageSpec,
        final_dir: &Path,
        key: &str,
        shared: &Shared<'_>,
        started: Instant,
        repair: bool,
    ) -> Option<Done> {
        match cache::lookup(final_dir, &spec.kind, key) {
            Lookup::Valid(manifest) => {
                shared.reporter.cached(&spec.id);
                Some(Done {
                    status: StageStatus::Cached,
                    outputs: outputs_of(spec, final_dir, &manifest),
                    seconds: started.elapsed().as_secs_f64(),
                    compute_seconds: manifest.seconds,
                    phases: Vec::new(),
                })
            }
            Lookup::Corrupt(reason) if repair => {
                shared.warn(format!(
                    "cache entry {} is corrupt ({reason}): recomputing",
                    final_dir.display()
                ));
                // If it cannot be removed, the promotion says so.
                let _ = fs::remove_dir_all(final_dir);
                None
            }
            Lookup::Corrupt(_) | Lookup::Missing => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn compute(
        &self,
        spec: &StageSpec,
        key: &str,
        staging: &Path,
        final_dir: &Path,
        inputs: Vec<StageOutputs>,
        shared: &Shared<'_>,
        started: Instant,
    ) -> Result<Done, StageError> {
        let input_records: Vec<ManifestInput> = inputs
            .iter()
            .map(|o| ManifestInput {
                id: o.id().to_string(),
                key: o.key().to_string(),
            })
            .collect();
        let reporter = shared.reporter;
        let progress = reporter.started(&spec.id, &spec.kind);
        let run_started = Instant::now();
        let slot = CheckpointSlot {
            kind_dir: self.cache_root.join(&spec.kind),
            key: key.to_string(),
            every: self.checkpoint_every,
            resume: !self.force,
        };
        let mut ctx = StageContext::new(
            crate::context::StageInfo {
                id: &spec.id,
                kind: &spec.kind,
                params: &spec.params,
                inputs: &spec.inputs,
                master_seed: spec.master_seed,
            },
            staging.to_path_buf(),
            inputs,
            progress.clone(),
            slot,
            Warnings {
                reporter,
                list: shared.warnings,
            },
        );
        PANIC_LOCATION.set(None);
        let outcome = catch_unwind(AssertUnwindSafe(|| spec.runner.run(&mut ctx)))
            .unwrap_or_else(|panic| Err(internal_error("the stage", panic.as_ref())));
        let run_seconds = run_started.elapsed().as_secs_f64();
        let seed = ctx.seed();
        let phases = ctx.take_phases();
        drop(ctx);
        if let Err(e) = outcome {
            reporter.finished(&progress, started.elapsed().as_secs_f64(), false);
            return Err(e);
        }

        let stored = cache::hash_outputs(staging).and_then(|files| {
            let manifest = Manifest {
                cache_format: cache::CACHE_FORMAT_VERSION,
                id: spec.id.clone(),
                kind: spec.kind.clone(),
                kind_version: spec.kind_version,
                key: key.to_string(),
                params: spec.params.clone(),
                seed,
                inputs: input_records,
                files,
                seconds: run_seconds,
                crate_version: env!("CARGO_PKG_VERSION").to_string(),
                modified: None,
            };
            cache::promote(staging, final_dir, manifest, self.force)
        });
        let seconds = started.elapsed().as_secs_f64();
        reporter.finished(&progress, seconds, stored.is_ok());
        let manifest = stored.map_err(|reason| {
            StageError::msg(format!(
                "could not store the outputs in the cache: {reason}"
            ))
        })?;
        Ok(Done {
            status: StageStatus::Computed,
            outputs: outputs_of(spec, final_dir, &manifest),
            seconds,
            compute_seconds: manifest.seconds,
            phases,
        })
    }
}

/// What every stage of one run shares.
struct Shared<'a> {
    reporter: &'a Reporter,
    warnings: &'a Mutex<Vec<String>>,
    /// Whether the missing file locks were reported already.
    lock_warned: AtomicBool,
}

impl Shared<'_> {
    fn warn(&self, text: String) {
        self.reporter.warn(&text);
        push(self.warnings, text);
    }
}

fn outputs_of(spec: &StageSpec, dir: &Path, manifest: &Manifest) -> StageOutputs {
    StageOutputs::new(
        spec.id.clone(),
        manifest.key.clone(),
        dir.to_path_buf(),
        manifest.file_names(),
    )
}

/// Keys in graph order, computed along the topological `order`.
fn stage_keys(graph: &Graph, order: &[usize]) -> Vec<String> {
    let stages = graph.stages();
    let position: HashMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut keys = vec![String::new(); stages.len()];
    for &i in order {
        let s = &stages[i];
        let input_keys: Vec<&str> = s
            .inputs
            .iter()
            .map(|id| keys[position[id.as_str()]].as_str())
            .collect();
        let key = cache::stage_key(
            &s.kind,
            s.kind_version,
            &s.params,
            derive_seed(s.master_seed, &s.id),
            &input_keys,
        );
        keys[i] = key;
    }
    keys
}

fn push(warnings: &Mutex<Vec<String>>, text: String) {
    if let Ok(mut w) = warnings.lock() {
        w.push(text);
    }
}

thread_local! {
    /// Set on the executor's worker threads, where every panic is caught and reported
    /// as an internal error of the stage that ran into it.
    static STAGE_THREAD: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic on this thread happened, recorded by the panic hook.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once per process) a panic hook that stays quiet on the executor's worker
/// threads: a stage's panic is caught and becomes an internal error naming the stage,
/// so the default hook's `thread '…' panicked at …` lines would only repeat it. The hook
/// records the panic's location for that message. Elsewhere, and on every thread when
/// `RUST_BACKTRACE` is set (to get the backtrace of a bug), the previous hook runs.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        let backtrace = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        std::panic::set_hook(Box::new(move |info| {
            if STAGE_THREAD.get() && !backtrace {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                PANIC_LOCATION.set(at);
            } else {
                previous(info);
            }
        }));
    });
}

/// The internal error for a panic of `what` caught on this thread.
fn internal_error(what: &str, panic: &(dyn std::any::Any + Send)) -> StageError {
    let at = PANIC_LOCATION
        .take()
        .map(|l| format!(" (at {l})"))
        .unwrap_or_default();
    StageError::internal(format!("{what} panicked: {}{at}", panic_message(panic)))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}
