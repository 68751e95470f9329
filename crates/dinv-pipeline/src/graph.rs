//! Stages and the graph of their dependencies.
//!
//! A [`StageSpec`] says what a stage is (its kind and code version), what it is given
//! (parameters, seed, the outputs of the stages it lists as inputs) and who computes it
//! (its [`StageRunner`]). A [`Graph`] holds the stages of a pipeline, checks that they form
//! a DAG and cuts out the sub-graph needed for a selection of stages.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use crate::context::StageContext;
use crate::error::StageError;
use crate::id::StageId;

/// The code of one stage kind. It reads its parameters, seed and inputs from the context
/// and writes its outputs through it; it must not touch the file system elsewhere, and
/// what it writes must depend on nothing but what the context gives it.
///
/// Closures `Fn(&mut StageContext<'_>) -> Result<(), StageError>` are runners too.
pub trait StageRunner: Send + Sync {
    /// Computes the stage's outputs into `ctx`'s staging directory.
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError>;
}

impl<F> StageRunner for F
where
    F: Fn(&mut StageContext<'_>) -> Result<(), StageError> + Send + Sync,
{
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        self(ctx)
    }
}

/// A stage kind, declared once, by the type of its parameters: the name of its cache
/// directory, the version of its code, and the code itself, which receives the
/// parameters as they were built (no JSON round trip; their JSON form is what the key
/// hashes and the manifest records). Build one with [`StageSpec::of`].
///
/// `VERSION` is bumped whenever the code changes what the stage computes, so that old
/// cache entries are not reused. One type per kind means one version per kind.
pub trait Stage: serde::Serialize + Send + Sync + 'static {
    /// What the stage does, e.g. `regression_train` (the cache directory's name: ASCII
    /// letters, digits, `_`, `-` and `.` only).
    const KIND: &'static str;
    /// The version of the kind's code.
    const VERSION: u32;
    /// Computes the stage's outputs into `ctx`'s staging directory (see
    /// [`StageRunner::run`]).
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError>;
}

/// Runs a [`Stage`] with the parameters it was built with.
struct Typed<S>(Arc<S>);

impl<S: Stage> StageRunner for Typed<S> {
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        self.0.run(ctx)
    }
}

/// One node of the pipeline.
#[derive(Clone)]
pub struct StageSpec {
    /// Unique id, `/`-separated, e.g. `fig3_linear/train/lr/DI-tr-0.01`. It also selects the
    /// stage's random stream.
    pub id: String,
    /// The same id as typed parts (pipeline, run, seed, step, item), when the stage was
    /// made with [`StageSpec::at`]: tools read these instead of parsing `id`.
    pub place: Option<StageId>,
    /// What the stage does, e.g. `regression_train`; names the cache directory, so it may
    /// only contain ASCII letters, digits, `_`, `-` and `.`.
    pub kind: String,
    /// Bumped by developers whenever the kind's code changes what it computes, so that old
    /// cache entries are not reused.
    pub kind_version: u32,
    /// Parameters, hashed in canonical form ([`crate::canonical_json`]).
    pub params: serde_json::Value,
    /// Ids of the stages whose outputs this one reads, in a fixed order.
    pub inputs: Vec<String>,
    /// The pipeline's master seed; the stage's stream is `derive_seed(master_seed, id)`.
    pub master_seed: u64,
    /// The code that computes the stage.
    pub runner: Arc<dyn StageRunner>,
    /// How many threads the stage can keep busy by itself (default 1): a hint for a
    /// scheduler that runs one stage per job, such as the exported Snakemake workflow.
    /// Not part of the key: a stage's outputs never depend on its thread count.
    pub threads: usize,
}

impl StageSpec {
    /// A stage with no parameters (`null`), no inputs and master seed 0.
    pub fn new(
        id: impl Into<String>,
        kind: impl Into<String>,
        kind_version: u32,
        runner: Arc<dyn StageRunner>,
    ) -> Self {
        Self {
            id: id.into(),
            place: None,
            kind: kind.into(),
            kind_version,
            params: serde_json::Value::Null,
            inputs: Vec::new(),
            master_seed: 0,
            runner,
            threads: 1,
        }
    }

    /// A stage at a typed place: its id is the place's text form.
    pub fn at(
        place: StageId,
        kind: impl Into<String>,
        kind_version: u32,
        runner: Arc<dyn StageRunner>,
    ) -> Self {
        let mut spec = Self::new(place.to_string(), kind, kind_version, runner);
        spec.place = Some(place);
        spec
    }

    /// A stage of kind `S` at `place`, with `params` as its parameters.
    ///
    /// # Panics
    /// If `params` does not serialise to JSON, which a derived `Serialize` with string
    /// map keys never does: a bug in the stage's parameter type, not bad input.
    pub fn of<S: Stage>(place: StageId, params: S) -> Self {
        let json = serde_json::to_value(&params).unwrap_or_else(|e| {
            panic!(
                "the parameters of a `{}` stage do not serialise to JSON: {e}",
                S::KIND
            )
        });
        Self::at(
            place,
            S::KIND,
            S::VERSION,
            Arc::new(Typed(Arc::new(params))),
        )
        .with_params(json)
    }

    /// Sets the parameters.
    pub fn with_params(mut self, params: serde_json::Value) -> Self {
        self.params = params;
        self
    }

    /// Sets the input stage ids.
    pub fn with_inputs<S: Into<String>>(mut self, inputs: impl IntoIterator<Item = S>) -> Self {
        self.inputs = inputs.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the master seed.
    pub fn with_master_seed(mut self, master_seed: u64) -> Self {
        self.master_seed = master_seed;
        self
    }

    /// Sets the number of threads the stage can use by itself (at least 1).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }
}

impl fmt::Debug for StageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageSpec")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("kind_version", &self.kind_version)
            .field("params", &self.params)
            .field("inputs", &self.inputs)
            .field("master_seed", &self.master_seed)
            .finish_non_exhaustive()
    }
}

/// A malformed graph or selection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Two stages share an id.
    #[error("stage id `{id}` is used twice")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// An id that is empty or has empty `/`-separated segments.
    #[error("stage id `{id}` is invalid: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A kind that cannot name a cache directory.
    #[error("stage `{id}` has invalid kind `{kind}`: {reason}")]
    InvalidKind {
        /// The stage.
        id: String,
        /// The kind.
        kind: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stage lists an input that is not in the graph.
    #[error("stage `{id}` lists input `{input}`, which is not a stage of this graph")]
    UnknownInput {
        /// The stage.
        id: String,
        /// The missing input id.
        input: String,
    },
    /// A stage lists the same input twice.
    #[error("stage `{id}` lists input `{input}` twice")]
    DuplicateInput {
        /// The stage.
        id: String,
        /// The repeated input.
        input: String,
    },
    /// The inputs form a cycle.
    #[error("the stages form a cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// The stages on the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A selection pattern matches no stage.
    #[error("`{pattern}` matches no stage; valid top-level names: {}", valid.join(", "))]
    UnknownPattern {
        /// The pattern.
        pattern: String,
        /// The first `/`-segments of all stage ids, sorted.
        valid: Vec<String>,
    },
}

/// The stages of a pipeline and their dependencies, in the order they were added.
#[derive(Clone, Default)]
pub struct Graph {
    stages: Vec<StageSpec>,
    index: HashMap<String, usize>,
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.stages).finish()
    }
}

fn check_id(id: &str) -> Result<(), GraphError> {
    let invalid = |reason: &str| {
        Err(GraphError::InvalidId {
            id: id.to_string(),
            reason: reason.to_string(),
        })
    };
    if id.is_empty() {
        return invalid("it is empty");
    }
    if id.split('/').any(str::is_empty) {
        return invalid("it has an empty `/`-separated segment");
    }
    if id.chars().any(char::is_control) {
        return invalid("it contains a control character");
    }
    Ok(())
}

fn check_kind(id: &str, kind: &str) -> Result<(), GraphError> {
    let invalid = |reason: &str| {
        Err(GraphError::InvalidKind {
            id: id.to_string(),
            kind: kind.to_string(),
            reason: reason.to_string(),
        })
    };
    if kind.is_empty() {
        return invalid("it is empty");
    }
    if kind.starts_with('.') {
        return invalid("it starts with `.`");
    }
    if !kind
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return invalid("only ASCII letters, digits, `_`, `-` and `.` are allowed");
    }
    Ok(())
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a stage; errors if its id is taken or its id or kind is malformed. Inputs are
    /// checked by [`Graph::validate`], so stages may be added in any order.
    pub fn add(&mut self, stage: StageSpec) -> Result<(), GraphError> {
        check_id(&stage.id)?;
        check_kind(&stage.id, &stage.kind)?;
        if self.index.contains_key(&stage.id) {
            return Err(GraphError::DuplicateId { id: stage.id });
        }
        self.index.insert(stage.id.clone(), self.stages.len());
        self.stages.push(stage);
        Ok(())
    }

    /// Stage ids in the order they were added.
    pub fn ids(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.id.as_str()).collect()
    }

    /// The stages in the order they were added.
    pub fn stages(&self) -> &[StageSpec] {
        &self.stages
    }

    /// The stage with this id.
    pub fn get(&self, id: &str) -> Option<&StageSpec> {
        self.index.get(id).map(|&i| &self.stages[i])
    }

    /// Number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Whether the graph has no stages.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The distinct first `/`-segments of the stage ids, sorted: the names offered to
    /// users for selection.
    pub fn top_level_names(&self) -> Vec<String> {
        let names: BTreeSet<&str> = self
            .stages
            .iter()
            .map(|s| s.id.split('/').next().unwrap_or(&s.id))
            .collect();
        names.into_iter().map(str::to_string).collect()
    }

    /// Checks that every input names a stage of the graph, no stage lists an input twice and
    /// the inputs form no cycle.
    pub fn validate(&self) -> Result<(), GraphError> {
        for s in &self.stages {
            let mut seen = HashSet::new();
            for input in &s.inputs {
                if !self.index.contains_key(input) {
                    return Err(GraphError::UnknownInput {
                        id: s.id.clone(),
                        input: input.clone(),
                    });
                }
                if !seen.insert(input.as_str()) {
                    return Err(GraphError::DuplicateInput {
                        id: s.id.clone(),
                        input: input.clone(),
                    });
                }
            }
        }
        self.topological_order().map(|_| ())
    }

    /// Stage indices (into [`Graph::stages`]) such that every stage comes after its inputs;
    /// among stages that could go next, the earliest added goes first. Assumes every input
    /// exists (see [`Graph::validate`]).
    pub fn topological_order(&self) -> Result<Vec<usize>, GraphError> {
        let n = self.stages.len();
        let mut missing = vec![0usize; n];
        let mut dependents = vec![Vec::new(); n];
        for (i, s) in self.stages.iter().enumerate() {
            for input in &s.inputs {
                if let Some(&j) = self.index.get(input) {
                    missing[i] += 1;
                    dependents[j].push(i);
                }
            }
        }
        let mut ready: BTreeSet<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &d in &dependents[i] {
                missing[d] -= 1;
                if missing[d] == 0 {
                    ready.insert(d);
                }
            }
        }
        if order.len() == n {
            Ok(order)
        } else {
            Err(GraphError::Cycle {
                cycle: self.find_cycle(&missing),
            })
        }
    }

    /// Follows unresolved inputs from a stage left over by Kahn's algorithm until a stage
    /// repeats; every left-over stage has a left-over input, so this always finds a cycle.
    fn find_cycle(&self, missing: &[usize]) -> Vec<String> {
        let Some(start) = (0..self.stages.len()).find(|&i| missing[i] > 0) else {
            return Vec::new();
        };
        let mut path = vec![start];
        let mut current = start;
        loop {
            let next = self.stages[current]
                .inputs
                .iter()
                .filter_map(|input| self.index.get(input).copied())
                .find(|&j| missing[j] > 0);
            let Some(next) = next else {
                return path.iter().map(|&i| self.stages[i].id.clone()).collect();
            };
            if let Some(pos) = path.iter().position(|&i| i == next) {
                let mut cycle: Vec<String> = path[pos..]
                    .iter()
                    .rev()
                    .map(|&i| self.stages[i].id.clone())
                    .collect();
                cycle.push(cycle[0].clone());
                return cycle;
            }
            path.push(next);
            current = next;
        }
    }

    /// The sub-graph needed to compute the stages matched by `patterns`: a stage matches a
    /// pattern if its id equals it or starts with it followed by `/` (a trailing `/` on the
    /// pattern is ignored). All ancestors of matched stages are included. No patterns
    /// select the whole graph. A pattern that matches nothing is an error listing the valid
    /// top-level names.
    pub fn select(&self, patterns: &[String]) -> Result<Graph, GraphError> {
        self.validate()?;
        if patterns.is_empty() {
            return Ok(self.clone());
        }
        let mut keep = vec![false; self.stages.len()];
        let mut stack = Vec::new();
        for pattern in patterns {
            let p = pattern.trim_end_matches('/');
            let matched: Vec<usize> = self
                .stages
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    !p.is_empty()
                        && (s.id == p
                            || (s.id.starts_with(p) && s.id.as_bytes().get(p.len()) == Some(&b'/')))
                })
                .map(|(i, _)| i)
                .collect();
            if matched.is_empty() {
                return Err(GraphError::UnknownPattern {
                    pattern: pattern.clone(),
                    valid: self.top_level_names(),
                });
            }
            stack.extend(matched);
        }
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut keep[i], true) {
                continue;
            }
            stack.extend(self.stages[i].inputs.iter().map(|id| self.index[id]));
        }
        let mut sub = Graph::new();
        for (i, s) in self.stages.iter().enumerate() {
            if keep[i] {
                sub.add(s.clone())?;
            }
        }
        Ok(sub)
    }
}
