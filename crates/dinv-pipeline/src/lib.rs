//! The reproducibility engine of dinv: a graph of stages, each a pure function of its
//! parameters, its seed and its inputs, whose outputs live in a content-addressed cache.
//!
//! This crate knows nothing about the paper's experiments. An experiment crate builds a
//! [`Graph`] of [`StageSpec`]s, each made from a [`Stage`] (a kind, its version, typed
//! parameters and the code; closures can be [`StageRunner`]s too), and hands it to an
//! [`Executor`]. The executor runs every stage whose outputs are not already cached, in
//! dependency order and in parallel where the graph allows, and returns a [`RunReport`]
//! through which the outputs are read back as [`Table`]s and JSON values.
//!
//! **Architecture Invariant:** only `dinv-pipeline` knows the cache layout and how keys
//! are hashed; stages see their parameters, their seed, typed inputs ([`StageOutputs`]) and
//! a staging area to write into ([`StageContext`]). Only [`table`] touches polars: no polars
//! type appears in the public API.
//!
//! # Cache key
//!
//! A stage's key is the hex SHA-256 of, in this order, each field length-prefixed:
//! the cache-format version ([`CACHE_FORMAT_VERSION`]), the stage `kind`, its
//! `kind_version` (bumped by a developer whenever the stage's code changes what it
//! computes), [`canonical_json`] of its `params`, its derived seed
//! ([`derive_seed`]`(master_seed, id)`) and the keys of its inputs in the order they are
//! listed. Hence changing one stage's parameters changes its key and, through the input
//! keys, the keys of all its descendants, and nothing else. The crate version is recorded
//! in the manifest but is not part of the key.
//!
//! # Cache layout
//!
//! ```text
//! <cache_root>/
//!   <kind>/
//!     <key>/                           one finished entry
//!       manifest.json                  id, kind, kind_version, key, params, seed,
//!                                      inputs (id -> key, in listed order), every file's
//!                                      name, size and SHA-256, wall seconds, crate version
//!       <name>.parquet, <name>.json    the stage's outputs ([`StageContext::write_table`],
//!       <anything else>                [`StageContext::write_json`], [`StageContext::staging_path`])
//!     .staging-<key>-<pid>-<n>/        a stage being computed by process <pid>
//!     <key>.lock                       held (flock) by the process computing <key>
//!     <key>.checkpoint                 the state of an interrupted computation of <key>
//!     .staging-<key>-<pid>-<n>.checkpoint   a checkpoint being written
//! ```
//!
//! # Invariants
//!
//! - **Atomic entries.** A stage writes into its staging directory; only after its runner
//!   returned `Ok` and the manifest is written is the directory renamed to `<key>/`. A
//!   runner that fails or panics leaves nothing in the cache. Staging directories left by
//!   a killed process are removed by the next run.
//! - **One computation per stage key at a time**, across processes and hosts sharing the
//!   cache: a stage is computed, checkpointed and promoted only under the exclusive lock
//!   of `<key>.lock`; a second process waits and then finds the entry cached. The
//!   clean-up of leftovers removes a staging directory or checkpoint only while holding
//!   its key's lock, so never one of a live computation (see [`exec`]).
//! - **Checkpoints.** A long stage saves its state every few minutes
//!   ([`StageContext::checkpoint_save`], interval [`Executor::checkpoint_every`]) to
//!   `<key>.checkpoint`, replaced atomically; a rerun after a kill resumes from it
//!   ([`StageContext::checkpoint_load`]) and produces byte-identical outputs. Keyed by
//!   the stage key (file name and content), never part of the key or the outputs,
//!   removed when the stage completes or fails; a damaged one is ignored with a warning.
//! - **Never trust a corrupt entry.** A lookup is a hit only if the manifest is readable,
//!   names the expected key and kind, its own kind version, parameters, seed and input
//!   keys hash to that key (so an edited manifest shows), and every listed file exists
//!   with the recorded size and SHA-256, with no unlisted files beside them. Anything else
//!   is reported as `cache entry <dir> is corrupt (<reason>): recomputing` (also in
//!   [`RunReport::warnings`]), removed and recomputed. This also covers a crash between
//!   writing and flushing a file, so no `fsync` is needed.
//! - **Seeded streams.** Every stage draws its randomness from its own ChaCha8 stream,
//!   [`stage_rng`]`(master_seed, id)`, so adding or removing a stage never shifts another
//!   stage's random numbers.
//! - **Determinism.** Nothing the engine adds to a stage's files depends on the thread
//!   count or on the order in which independent stages are scheduled: Parquet is written
//!   single-threaded with fixed settings, JSON with sorted keys. Runners keep their side of
//!   the contract by parallelising across stages, not inside order-sensitive reductions.
//!
//! # Example
//!
//! ```
//! use dinv_pipeline::{Executor, Graph, Stage, StageContext, StageError, StageId, StageSpec, Table};
//! use rand_chacha::rand_core::Rng;
//!
//! /// A stage kind is its parameter type.
//! #[derive(serde::Serialize)]
//! struct Draw {
//!     n: usize,
//! }
//!
//! impl Stage for Draw {
//!     const KIND: &'static str = "draw";
//!     const VERSION: u32 = 1;
//!     fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
//!         let mut rng = ctx.rng();
//!         let x: Vec<i64> = (0..self.n).map(|_| (rng.next_u64() % 100) as i64).collect();
//!         ctx.write_table("draws", &Table::new().with_i64("x", x)?)
//!     }
//! }
//!
//! let mut graph = Graph::new();
//! graph.add(StageSpec::of(StageId::new("demo", "draw"), Draw { n: 5 }).with_master_seed(2020))?;
//! let cache = tempfile::tempdir()?;
//! let executor = Executor::new(cache.path().to_path_buf()).quiet(true);
//! let report = executor.run(&graph)?;
//! assert_eq!(report.outputs("demo/draw").unwrap().table("draws")?.len(), 5);
//! assert_eq!(executor.run(&graph)?.cached(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod archive;
pub mod config;
pub mod error;
pub mod exec;
pub mod graph;
mod id;
pub mod progress;
mod scale;
pub mod seed;
mod status;
pub mod sweep;
pub mod table;

mod cache;
mod context;
mod hash;

pub use archive::ArchiveReport;
pub use cache::CACHE_FORMAT_VERSION;
pub use config::{canonical_json, load_toml, parse_toml, ConfigError, InvalidConfig};
pub use context::{Checkpoint, StageContext, StageOutputs};
pub use error::{StageError, StageResultExt};
pub use exec::{
    ExecError, Executor, RunReport, StageFailure, StageRecord, StageStatus,
    DEFAULT_CHECKPOINT_EVERY,
};
pub use graph::{Graph, GraphError, Stage, StageRunner, StageSpec};
pub use id::StageId;
pub use progress::Progress;
pub use scale::Scale;
pub use seed::{derive_seed, rng_from_seed, stage_rng};
pub use status::{CacheState, StageState};
pub use sweep::{load_pipeline_toml, parse_pipeline_toml};
pub use table::{Column, Table, TableError};

/// The random-number generator every stage uses, re-exported so that experiment crates
/// need no direct dependency on `rand_chacha`.
pub use rand_chacha::ChaCha8Rng;
