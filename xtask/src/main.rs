//! `cargo xtask`: the project's automation, as ordinary Rust.
//!
//! * `reproduce [--scale smoke|paper] [--only NAME]... [--force]`: run the pipelines in
//!   `pipelines/`, publish figures, `summary.json` and the report.
//! * `bench`: time the paper-scale pipelines from scratch against the authors' figures.
//! * `report [--scale ...]`: rewrite the report from the existing summary.
//! * `status [--scale ...] [--only ...]`: which stages are cached, missing or stale, and
//!   why a stale one is.
//! * `stage run <stage-id>`: run exactly one stage whose inputs are cached (one stage as
//!   one process, for workflow engines such as Snakemake).
//! * `export snakemake [--scale ...] [--only ...]`: the stage graph as a Snakefile.
//! * `cache export|import`: copy verified cache entries to or from an archive folder
//!   (`paper/archive/` holds the paper-scale entries of the longest stages).
//! * `clean [--scale ...]`: delete cached stage outputs and the scale's published
//!   results in `results/<scale>/`.

mod data;
mod snakemake;
mod solvers;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use dinv_experiments::{load_selected, Pipeline, Scale};
use dinv_pipeline::{ExecError, Executor, Graph};
use xtask::publish;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Reproduce Podlaski & Machens (NeurIPS 2020) end to end"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which stages a command works on and where their results live: the options every
/// command that runs or inspects the stage graph shares.
#[derive(clap::Args)]
struct Selection {
    /// `smoke` (a few hundred examples, for CI) or `paper` (the paper's protocol).
    #[arg(long, default_value = "paper", value_parser = parse_scale)]
    scale: Scale,
    /// Only these pipelines or stage-id prefixes (and what they depend on).
    #[arg(long)]
    only: Vec<String>,
    /// Folder of pipeline files instead of `pipelines/` (their results are published
    /// to the results folder, never to `paper/`).
    #[arg(long)]
    pipelines: Option<PathBuf>,
    /// Results folder (published files and the stage cache, `cache/` in it) instead of
    /// `results/<scale>/`; nothing is then published into `paper/`.
    #[arg(long)]
    results: Option<PathBuf>,
}

impl Selection {
    /// The pipeline folder: `--pipelines`, or the project's own.
    fn dir(&self, root: &Path) -> PathBuf {
        self.pipelines
            .clone()
            .unwrap_or_else(|| root.join("pipelines"))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipelines (cached), then publish figures, summary and report.
    Reproduce {
        #[command(flatten)]
        sel: Selection,
        /// Recompute the selected stages even if cached.
        #[arg(long)]
        force: bool,
        /// Worker threads for independent stages (default: all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Print only errors and the final summary line.
        #[arg(long)]
        quiet: bool,
        /// Stop at the first failing stage (default: finish every stage that does not
        /// depend on it, publish what completed, then fail listing the failures).
        #[arg(long)]
        fail_fast: bool,
        /// Also write the run's fingerprint to this file: one line per output file
        /// (stage id, cache key, file, SHA-256), free of timings, so that `diff` of two
        /// fingerprints shows whether a change altered any output.
        #[arg(long)]
        fingerprint: Option<PathBuf>,
    },
    /// Time the pipelines from scratch (no cache) and compare with the authors' code.
    Bench {
        #[arg(long, default_value = "paper", value_parser = parse_scale)]
        scale: Scale,
        #[arg(long)]
        only: Vec<String>,
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Rewrite the report from the existing summary.json.
    Report {
        #[arg(long, default_value = "paper", value_parser = parse_scale)]
        scale: Scale,
    },
    /// Datasets: where they are found, verify, fetch, remake the shipped subsets.
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// Which stages are cached, missing or stale (and why), without running anything.
    Status {
        #[command(flatten)]
        sel: Selection,
        /// Also list the cached stages (by default only the others are listed).
        #[arg(long)]
        all: bool,
    },
    /// Archives of cache entries (for long stages, between machines or sessions).
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// The stage graph for a workflow engine.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// One stage at a time (for workflow engines).
    Stage {
        #[command(subcommand)]
        command: StageCommand,
    },
    /// Delete the cache of one scale and what runs published in `results/<scale>/`
    /// (never `paper/`).
    Clean {
        #[arg(long, default_value = "smoke", value_parser = parse_scale)]
        scale: Scale,
    },
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Copy the cached entries of the selected stages into an archive folder.
    Export {
        /// The archive folder (default: `paper/archive` at paper scale).
        #[arg(long)]
        to: Option<PathBuf>,
        #[arg(long, default_value = "paper", value_parser = parse_scale)]
        scale: Scale,
        /// Only these pipelines or stage-id prefixes (and what they depend on).
        #[arg(long)]
        only: Vec<String>,
        /// Only stages of these kinds (e.g. `autoencoder_train`); default: all.
        #[arg(long)]
        kind: Vec<String>,
        #[arg(long)]
        results: Option<PathBuf>,
    },
    /// Copy every entry of an archive folder into the cache (each verified).
    Import {
        /// The archive folder (default: `paper/archive` at paper scale).
        #[arg(long)]
        from: Option<PathBuf>,
        #[arg(long, default_value = "paper", value_parser = parse_scale)]
        scale: Scale,
        #[arg(long)]
        results: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Write a Snakefile: one job per stage (`stage run`), a marker per stage named by
    /// its cache key, and a last job that publishes figures, summary and report.
    Snakemake {
        #[command(flatten)]
        sel: Selection,
        /// Where to write the Snakefile (default: `Snakefile` in the results folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum StageCommand {
    /// Run exactly this stage, whose inputs must already be cached and verified. Exits 0
    /// when the stage is done (computed now or already cached), non-zero with a message
    /// otherwise. Safe beside other processes on the same cache, on the same stage too:
    /// one computes, the others wait for its entry.
    Run {
        /// The stage id, e.g. `fig3_linear/fixed_lr/s1/train/BP`.
        id: String,
        #[arg(long, default_value = "paper", value_parser = parse_scale)]
        scale: Scale,
        /// Folder of pipeline files instead of `pipelines/`.
        #[arg(long)]
        pipelines: Option<PathBuf>,
        /// Results folder instead of `results/<scale>/` (its stage cache is `cache/` in it).
        #[arg(long)]
        results: Option<PathBuf>,
        /// Threads for the stage's own parallel parts (its outputs do not depend on it).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

fn parse_scale(s: &str) -> Result<Scale, String> {
    Scale::parse(s).ok_or_else(|| format!("unknown scale `{s}`: expected `smoke` or `paper`"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let root = workspace_root();
    match cli.command {
        Command::Reproduce {
            sel,
            force,
            threads,
            quiet,
            fail_fast,
            fingerprint,
        } => {
            // Only the project's own pipelines publish into paper/.
            let official = sel.pipelines.is_none();
            let dir = sel.dir(&root);
            let Selection {
                scale,
                only,
                results,
                ..
            } = sel;
            let selection = load_selected(&dir, scale, &only).map_err(anyhow::Error::msg)?;
            for w in &selection.warnings {
                eprintln!("warning: {w}");
            }
            let pipes = selection.pipelines;
            let graph = select(&pipes, &only)?;
            // Full datasets the selected stages read: fetched first if missing.
            let needed: Vec<_> = pipes
                .iter()
                .filter(|p| {
                    graph
                        .stages()
                        .iter()
                        .any(|s| s.place.as_ref().is_some_and(|id| id.pipeline == p.name))
                })
                .flat_map(|p| p.full_data.iter().copied())
                .collect();
            data::ensure(&needed);
            let layout = publish::Layout::new(&root, scale).with_results(results);
            // The archived paper-scale entries of the longest stages: used where their
            // keys match (a changed stage simply does not find its entry).
            let archive = paper_archive(&root);
            if official && scale == Scale::Paper && archive.is_dir() {
                let r = Executor::new(layout.cache_dir())
                    .import_archive(&archive)
                    .map_err(anyhow::Error::msg)?;
                if !quiet || !r.rejected.is_empty() {
                    print_archive(&format!("archive {}", archive.display()), &r);
                }
            }
            let exec = Executor::new(layout.cache_dir())
                .force(force)
                .threads(threads)
                .quiet(quiet)
                .keep_going(!fail_fast);
            let (report, incomplete) = match exec.run(&graph) {
                Ok(report) => (report, None),
                Err(err @ ExecError::Incomplete { .. }) => {
                    let text = err.to_string();
                    let ExecError::Incomplete { report, .. } = err else {
                        unreachable!("matched above")
                    };
                    (*report, Some(text))
                }
                Err(e) => bail!("{e}"),
            };
            for w in xtask::warnings_to_repeat(&report.warnings, quiet) {
                eprintln!("warning: {w}");
            }
            publish::publish(&layout, official, &pipes, &report)?;
            if let Some(path) = fingerprint {
                let text = report.fingerprint().map_err(anyhow::Error::msg)?;
                std::fs::write(&path, text)
                    .with_context(|| format!("writing the fingerprint to {}", path.display()))?;
            }
            if let Some(failures) = incomplete {
                bail!("{failures}\nEverything else completed and was published.");
            }
            if report.computed() == 0 {
                println!(
                    "nothing to recompute: all {} stages were cached",
                    report.cached()
                );
            }
            Ok(())
        }
        Command::Bench {
            scale,
            only,
            threads,
        } => bench(&root, scale, &only, threads),
        Command::Report { scale } => {
            for path in publish::write_report(&root, scale)? {
                println!("report: {}", path.display());
            }
            Ok(())
        }
        Command::Status { sel, all } => status(&root, &sel, all),
        Command::Cache { command } => cache_command(&root, command),
        Command::Export {
            command: ExportCommand::Snakemake { sel, out },
        } => export_snakemake(&root, &sel, out),
        Command::Stage {
            command:
                StageCommand::Run {
                    id,
                    scale,
                    pipelines,
                    results,
                    threads,
                },
        } => stage_run(&root, &id, scale, pipelines, results, threads),
        Command::Data { command } => data::run(command),
        Command::Clean { scale } => {
            for path in publish::clean(&root, scale)? {
                println!("removed {}", path.display());
            }
            Ok(())
        }
    }
}

fn cache_dir(root: &Path, scale: Scale, results: Option<PathBuf>) -> PathBuf {
    publish::Layout::new(root, scale)
        .with_results(results)
        .cache_dir()
}

fn status(root: &Path, sel: &Selection, all: bool) -> Result<()> {
    let (scale, only, results) = (sel.scale, &sel.only, sel.results.clone());
    let dir = sel.dir(root);
    let selection = load_selected(&dir, scale, only).map_err(anyhow::Error::msg)?;
    for w in &selection.warnings {
        eprintln!("warning: {w}");
    }
    let graph = select(&selection.pipelines, only)?;
    let exec = Executor::new(cache_dir(root, scale, results));
    let states = exec.status(&graph).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut counts = std::collections::BTreeMap::new();
    for s in &states {
        *counts.entry(s.state.word()).or_insert(0usize) += 1;
        if !all && s.state == dinv_pipeline::CacheState::Cached {
            continue;
        }
        let why = match &s.state {
            dinv_pipeline::CacheState::Stale(reasons) => reasons.join("; "),
            dinv_pipeline::CacheState::Corrupt(reason) => reason.clone(),
            _ => String::new(),
        };
        println!("{:<8} {:<60} {why}", s.state.word(), s.id);
    }
    let counts: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    println!("{} stages: {}", states.len(), counts.join(", "));
    Ok(())
}

/// The committed archive of paper-scale entries of the longest stages.
fn paper_archive(root: &Path) -> PathBuf {
    root.join("paper").join("archive")
}

fn print_archive(what: &str, r: &dinv_pipeline::ArchiveReport) {
    println!(
        "{what}: {} entries copied, {} already there, {} rejected{}",
        r.copied.len(),
        r.present,
        r.rejected.len(),
        match r.not_cached.len() {
            0 => String::new(),
            n => format!(", {n} stages not cached yet (skipped)"),
        }
    );
    for why in &r.rejected {
        println!("  rejected {why}");
    }
    for id in &r.not_cached {
        println!("  not cached yet: {id}");
    }
}

fn cache_command(root: &Path, command: CacheCommand) -> Result<()> {
    match command {
        CacheCommand::Export {
            to,
            scale,
            only,
            kind,
            results,
        } => {
            let dir = root.join("pipelines");
            let selection = load_selected(&dir, scale, &only).map_err(anyhow::Error::msg)?;
            let graph = select(&selection.pipelines, &only)?;
            let to = to.unwrap_or_else(|| paper_archive(root));
            let exec = Executor::new(cache_dir(root, scale, results));
            let r = exec
                .export_archive(&graph, &kind, &to)
                .map_err(anyhow::Error::msg)?;
            print_archive(&format!("export to {}", to.display()), &r);
            Ok(())
        }
        CacheCommand::Import {
            from,
            scale,
            results,
        } => {
            let from = from.unwrap_or_else(|| paper_archive(root));
            let exec = Executor::new(cache_dir(root, scale, results));
            let r = exec.import_archive(&from).map_err(anyhow::Error::msg)?;
            print_archive(&format!("import from {}", from.display()), &r);
            if !r.rejected.is_empty() {
                bail!("{} archived entries were rejected", r.rejected.len());
            }
            Ok(())
        }
    }
}

fn export_snakemake(root: &Path, sel: &Selection, out: Option<PathBuf>) -> Result<()> {
    let (scale, only, results) = (sel.scale, &sel.only, sel.results.clone());
    let dir = sel.dir(root);
    let selection = load_selected(&dir, scale, only).map_err(anyhow::Error::msg)?;
    for w in &selection.warnings {
        eprintln!("warning: {w}");
    }
    let graph = select(&selection.pipelines, only)?;
    // The jobs run from anywhere (a cluster node's working directory): absolute paths.
    let results = publish::Layout::new(root, scale)
        .with_results(results)
        .results_dir();
    std::fs::create_dir_all(&results).with_context(|| format!("creating {}", results.display()))?;
    let absolute = |p: &Path| {
        p.canonicalize()
            .with_context(|| format!("resolving {}", p.display()))
    };
    let export = snakemake::Export {
        graph: &graph,
        pipelines: selection.pipelines.iter().map(|p| p.name.clone()).collect(),
        scale: scale.name(),
        pipeline_dir: absolute(&dir)?,
        results: absolute(&results)?,
        xtask: std::env::current_exe().context("locating the xtask binary")?,
    };
    let path = out.unwrap_or_else(|| export.results.join("Snakefile"));
    snakemake::write(&export, &path)?;
    println!(
        "{}: {} stages; run it with `snakemake -s {} --cores 2`",
        path.display(),
        graph.len(),
        path.display()
    );
    Ok(())
}

fn stage_run(
    root: &Path,
    id: &str,
    scale: Scale,
    pipelines: Option<PathBuf>,
    results: Option<PathBuf>,
    threads: usize,
) -> Result<()> {
    let dir = pipelines.unwrap_or_else(|| root.join("pipelines"));
    let only = [id.to_string()];
    let selection = load_selected(&dir, scale, &only).map_err(anyhow::Error::msg)?;
    let graph = select(&selection.pipelines, &only)?;
    if graph.get(id).is_none() {
        bail!(
            "no stage `{id}` at scale {scale}; `cargo xtask status --scale {scale} --all \
             --only {}` lists the pipeline's stages",
            id.split('/').next().unwrap_or(id)
        );
    }
    let exec = Executor::new(cache_dir(root, scale, results)).threads(threads.max(1));
    let waiting: Vec<String> = exec
        .status(&graph)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .filter(|s| s.id != id && s.state != dinv_pipeline::CacheState::Cached)
        .map(|s| format!("  {} ({})", s.id, s.state.word()))
        .collect();
    if !waiting.is_empty() {
        bail!(
            "stage `{id}` cannot run: these stages it reads are not cached yet:\n{}\n\
             run them first (`cargo xtask stage run <id>` each, or `cargo xtask reproduce \
             --scale {scale} --only {id}`)",
            waiting.join("\n")
        );
    }
    let needed: Vec<_> = selection
        .pipelines
        .iter()
        .flat_map(|p| p.full_data.iter().copied())
        .collect();
    data::ensure(&needed);
    let report = exec.run(&graph).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rec = report
        .stages
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| anyhow::anyhow!("stage `{id}` did not run"))?;
    println!("{id}: {:?} ({})", rec.status, rec.key);
    Ok(())
}

fn load_all(dir: &Path, scale: Scale) -> Result<Vec<Pipeline>> {
    Ok(load_selected(dir, scale, &[])
        .map_err(anyhow::Error::msg)?
        .pipelines)
}

/// One graph with every pipeline's stages, narrowed to `only` (plus dependencies).
fn select(pipes: &[Pipeline], only: &[String]) -> Result<Graph> {
    let mut graph = Graph::new();
    for p in pipes {
        for s in p.graph.stages() {
            graph.add(s.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    graph.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    if only.is_empty() {
        return Ok(graph);
    }
    graph
        .select(only)
        .map_err(|e| anyhow::anyhow!("--only: {e}"))
}

/// Reference timings of the authors' public code on this machine class (from the issues).
const AUTHORS_SECONDS: &[(&str, f64, &str)] = &[
    (
        "fig3_linear",
        10.6 + 23.2,
        "Fig. 3a (10.6 s) + Fig. 3b (23.2 s), DI at 1000 steps of dt = 0.5",
    ),
    (
        "fig3_nonlinear",
        22.0 * 60.0,
        "about 22 min for 20000 examples, DI at 1000 steps of dt = 0.5",
    ),
];

fn bench(root: &Path, scale: Scale, only: &[String], threads: usize) -> Result<()> {
    let dir = root.join("pipelines");
    let pipes = load_all(&dir, scale)?;
    let tmp = std::env::temp_dir().join(format!("dinv-bench-{}", std::process::id()));
    println!(
        "benchmark at scale {scale}: every stage recomputed in a fresh cache ({})",
        tmp.display()
    );
    println!(
        "{:<28} {:>10} {:>12} {:>10}",
        "pipeline", "ours (s)", "authors (s)", "speed-up"
    );
    for p in &pipes {
        if !only.is_empty() && !only.iter().any(|o| o == &p.name) {
            continue;
        }
        if p.name.starts_with("fig4_") {
            // Full MNIST runs take many minutes: measured per epoch below instead.
            continue;
        }
        let cache = tmp.join(&p.name);
        let exec = Executor::new(cache.clone()).threads(threads).quiet(true);
        // One seed, as the authors' timings are for one run: first the figure pipeline
        // proper (data, training, analysis), then that seed's Gauss–Newton analysis on
        // top of that cache. The per-seed summary and figures take well under a second.
        let stages = p.graph.stages();
        let first_seed = stages
            .iter()
            .find_map(|s| s.place.as_ref().and_then(|id| id.seed));
        let one_seed: Vec<&dinv_pipeline::StageSpec> = stages
            .iter()
            .filter(|s| {
                first_seed.is_none() || s.place.as_ref().is_some_and(|id| id.seed == first_seed)
            })
            .collect();
        let core_ids: Vec<String> = one_seed
            .iter()
            .filter(|s| {
                s.place
                    .as_ref()
                    .is_some_and(|id| ["data", "train", "analysis"].contains(&id.step.as_str()))
            })
            .map(|s| s.id.clone())
            .collect();
        let select = |ids: Vec<String>| p.graph.select(&ids).map_err(|e| anyhow::anyhow!("{e}"));
        let t0 = Instant::now();
        exec.run(&select(core_ids)?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let core_secs = t0.elapsed().as_secs_f64();
        let report = exec
            .run(&select(one_seed.iter().map(|s| s.id.clone()).collect())?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{:<28} {:>10.2} s for data, training and analysis of one seed; {:.2} s more for its Gauss–Newton analysis",
            p.name,
            core_secs,
            secs - core_secs
        );
        let authors = AUTHORS_SECONDS.iter().find(|a| a.0 == p.name);
        match authors {
            Some((_, a, note)) if scale == Scale::Paper => {
                println!(
                    "{:<28} {:>10.2} {:>12.1} {:>9.1}x   ({note}; ours: data, training and analysis)",
                    p.name,
                    core_secs,
                    a,
                    a / core_secs
                )
            }
            _ => println!("{:<28} {:>10.2} {:>12} {:>10}", p.name, secs, "–", "–"),
        }
        let mut stages: Vec<_> = report.stages.iter().collect();
        stages.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        for s in stages.iter().take(5) {
            println!("    {:<60} {:>8.3} s", s.id, s.seconds);
        }
        let _ = std::fs::remove_dir_all(&cache);
    }
    if only.is_empty() {
        solvers::compare(root, &tmp)?;
    }
    if scale == Scale::Paper
        && (only.is_empty() || only.iter().any(|o| o == "fig4_mnist_classification"))
    {
        solvers::mnist_throughput(root, &tmp)?;
    }
    if scale == Scale::Paper
        && (only.is_empty() || only.iter().any(|o| o == "fig4_mnist_autoencoder"))
    {
        solvers::autoencoder_throughput(root, &tmp)?;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
