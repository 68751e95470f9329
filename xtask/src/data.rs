//! `cargo xtask data`: where the datasets are, whether they are intact, fetching them,
//! and remaking the subsets shipped in the repository.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use dinv_data::fetch::{self, FetchOptions, FetchProgress, FileOutcome};
use dinv_data::locate::{DataDirs, NO_SYSTEM_ENV_VAR};
use dinv_data::mnist::{load, verify_file, DatasetSpec, FASHION_MNIST, MNIST};
use dinv_data::subset;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Download missing or damaged full datasets from public mirrors (SHA-256 verified
    /// before a file becomes visible).
    Fetch {
        #[arg(value_enum, default_value = "all")]
        dataset: Which,
        /// Install here (a data root: files go to <DIR>/mnist/, <DIR>/fashion-mnist/)
        /// instead of $DINV_DATA_DIR or <workspace>/data.
        #[arg(long, value_name = "DIR")]
        into: Option<PathBuf>,
    },
    /// Check every installed file against its known size and SHA-256.
    Verify {
        #[arg(value_enum, default_value = "all")]
        dataset: Which,
    },
    /// Show the search order, where each file was found, and where fetch installs.
    Where,
    /// Rewrite crates/dinv-data/fixtures/subsets/ from the full files (the first
    /// 3000 training and 1000 test examples) and print their SHA-256.
    MakeSubsets,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Which {
    Mnist,
    FashionMnist,
    All,
}

impl Which {
    fn specs(self) -> Vec<&'static DatasetSpec> {
        match self {
            Which::Mnist => vec![&MNIST],
            Which::FashionMnist => vec![&FASHION_MNIST],
            Which::All => vec![&MNIST, &FASHION_MNIST],
        }
    }
}

pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Fetch { dataset, into } => {
            let root = match into {
                Some(dir) => dir,
                None => destination()?,
            };
            let mut failed = Vec::new();
            for spec in dataset.specs() {
                if let Err(e) = fetch_one(spec, &root) {
                    eprintln!("error: {e:#}");
                    failed.push(spec.name);
                }
            }
            if !failed.is_empty() {
                bail!("could not fetch: {}", failed.join(", "));
            }
            Ok(())
        }
        DataCommand::Verify { dataset } => verify(dataset),
        DataCommand::Where => {
            show_where();
            Ok(())
        }
        DataCommand::MakeSubsets => make_subsets(),
    }
}

/// Where fetched datasets go when no folder is given.
fn destination() -> Result<PathBuf> {
    fetch::default_destination(&DataDirs::from_env())
        .context("no data root to install into: set DINV_DATA_DIR")
}

/// Fetches one dataset into `root`, with a progress bar per file.
fn fetch_one(spec: &DatasetSpec, root: &Path) -> Result<()> {
    let bases = fetch::mirrors(spec);
    println!(
        "{}: making sure it is in {} (mirrors: {})",
        spec.name,
        root.join(spec.dir).display(),
        bases.join(", ")
    );
    let mut bar = Bar::default();
    let outcomes = fetch::fetch_dataset(spec, &bases, root, &FetchOptions::default(), &mut bar)
        .with_context(|| format!("fetching {}", spec.name))?;
    for o in outcomes {
        match o {
            FileOutcome::Present(p) => println!("  present and verified: {}", p.display()),
            FileOutcome::Fetched {
                path,
                url,
                bytes,
                replaced_damaged,
            } => println!(
                "  fetched {bytes} bytes from {url} -> {}{}",
                path.display(),
                if replaced_damaged {
                    " (replaced a damaged file)"
                } else {
                    ""
                }
            ),
        }
    }
    Ok(())
}

/// A progress bar per download: bytes, rate and ETA.
#[derive(Default)]
struct Bar(Option<ProgressBar>);

impl FetchProgress for Bar {
    fn start(&mut self, file: &str, url: &str, total: Option<u64>) {
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        let style = ProgressStyle::with_template(
            "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(format!("{file}.gz"));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar.println(format!("  GET {url}"));
        self.0 = Some(bar);
    }
    fn advance(&mut self, bytes: u64) {
        if let Some(b) = &self.0 {
            b.inc(bytes);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}

fn verify(which: Which) -> Result<()> {
    let dirs = DataDirs::from_env();
    let mut bad = 0;
    for spec in which.specs() {
        println!("{}:", spec.name);
        for file in spec.all_files() {
            match dirs.find(spec.name, spec.dir, file.name) {
                Err(_) => {
                    bad += 1;
                    println!(
                        "  MISSING  {} (`cargo xtask data fetch` installs it)",
                        file.name
                    );
                }
                Ok(path) => match verify_file(&file, &path) {
                    Ok(_) => println!("  ok       {}", path.display()),
                    Err(e) => {
                        bad += 1;
                        println!("  DAMAGED  {e}");
                    }
                },
            }
        }
    }
    if bad > 0 {
        bail!(
            "{bad} file(s) missing or damaged: `cargo xtask data fetch` installs or replaces them"
        );
    }
    println!("every file is present and has its known SHA-256");
    Ok(())
}

fn show_where() {
    let dirs = DataDirs::from_env();
    println!("Search order for the full datasets (the first root holding a file wins):");
    for (i, r) in dirs.roots().iter().enumerate() {
        let state = if r.path.is_dir() { "" } else { " (absent)" };
        println!("  {}. {} [{}]{state}", i + 1, r.path.display(), r.origin);
    }
    if std::env::var(NO_SYSTEM_ENV_VAR).is_ok_and(|v| v == "1") {
        println!("  ({NO_SYSTEM_ENV_VAR}=1: the Debian root /usr/share/datasets is left out)");
    }
    for spec in [&MNIST, &FASHION_MNIST] {
        println!("{}:", spec.name);
        for file in spec.all_files() {
            match dirs.find(spec.name, spec.dir, file.name) {
                Ok(p) => println!("  {}", p.display()),
                Err(_) => println!("  {}: not found", file.name),
            }
        }
    }
    match fetch::default_destination(&dirs) {
        Some(d) => println!("`cargo xtask data fetch` installs into {}", d.display()),
        None => println!("`cargo xtask data fetch` needs DINV_DATA_DIR (no data root)"),
    }
    println!(
        "Tests and the smoke scale read the shipped subsets in {}",
        subset::root().display()
    );
}

/// Before a run: fetches each of `needed` that is not fully installed. A failure is
/// reported but does not stop the run: the stages that need the data then fail with
/// the data layer's message, and independent work goes on.
pub fn ensure(needed: &[&'static DatasetSpec]) {
    let dirs = DataDirs::from_env();
    for spec in needed {
        let missing = spec
            .all_files()
            .iter()
            .any(|f| dirs.find(spec.name, spec.dir, f.name).is_err());
        if !missing {
            continue;
        }
        let result = destination().and_then(|root| fetch_one(spec, &root));
        if let Err(e) = result {
            eprintln!(
                "warning: {e:#}\n(the stages that need {} will fail; the rest go on)",
                spec.name
            );
        }
    }
}

fn make_subsets() -> Result<()> {
    let dirs = DataDirs::from_env();
    for spec in [&MNIST, &FASHION_MNIST] {
        let full = load(spec, &dirs).with_context(|| format!("loading the full {}", spec.name))?;
        let out = subset::root().join(spec.dir);
        let sums = subset::write(&full, &out)
            .with_context(|| format!("writing the subset into {}", out.display()))?;
        println!("{} -> {}", spec.name, out.display());
        for (name, sha) in sums {
            println!("  {name}: {sha}");
        }
    }
    Ok(())
}
