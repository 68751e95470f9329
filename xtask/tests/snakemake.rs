//! The exported Snakefile run by real Snakemake gives the same cache, summary and report
//! as `cargo xtask reproduce`, and a re-export after a change reruns only what changed.
//!
//! Snakemake comes from PyPI: `.ci/run` installs it in a virtual environment and sets
//! `DINV_SNAKEMAKE` to it, with `DINV_REQUIRE_SNAKEMAKE=1` so that CI never skips this.
//! Elsewhere the test looks for `snakemake` on the PATH and says so when it skips.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn snakemake() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DINV_SNAKEMAKE") {
        return Some(PathBuf::from(p));
    }
    let found = Command::new("snakemake").arg("--version").output();
    found
        .is_ok_and(|o| o.status.success())
        .then(|| PathBuf::from("snakemake"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn xtask(args: &[&str], pipes: &Path, results: &Path) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .args(["--scale", "smoke", "--pipelines"])
        .arg(pipes)
        .arg("--results")
        .arg(results)
        .env_remove("DINV_DATA_DIR")
        .env("DINV_NO_SYSTEM_DATA", "1")
        .output()
        .expect("xtask starts");
    assert!(o.status.success(), "xtask {args:?}: {}", text(&o));
    o
}

fn run_snakemake(exe: &Path, results: &Path, cwd: &Path) -> String {
    let o = Command::new(exe)
        .arg("-s")
        .arg(results.join("Snakefile"))
        .args(["--cores", "2"])
        .current_dir(cwd)
        .env_remove("DINV_DATA_DIR")
        .env("DINV_NO_SYSTEM_DATA", "1")
        .output()
        .expect("snakemake starts");
    assert!(o.status.success(), "snakemake failed: {}", text(&o));
    text(&o)
}

/// The report without its performance section (wall-clock times differ run to run).
fn report_without_timings(results: &Path) -> String {
    let r = fs::read_to_string(results.join("REPRODUCTION.md")).unwrap();
    let cut = r
        .find("## Performance")
        .expect("the report has a performance section");
    r[..cut].to_string()
}

#[test]
fn exported_workflow_matches_reproduce_byte_for_byte() {
    let Some(exe) = snakemake() else {
        assert!(
            std::env::var_os("DINV_REQUIRE_SNAKEMAKE").is_none(),
            "DINV_REQUIRE_SNAKEMAKE is set but no snakemake was found (DINV_SNAKEMAKE or PATH)"
        );
        eprintln!("skipped: no snakemake (set DINV_SNAKEMAKE, or pip install snakemake)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pipes = tmp.path().join("pipelines");
    fs::create_dir_all(&pipes).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let original = fs::read_to_string(root.join("pipelines/fig3_linear.toml")).unwrap();
    fs::write(pipes.join("fig3_linear.toml"), &original).unwrap();
    let (by_snakemake, by_xtask) = (tmp.path().join("A"), tmp.path().join("B"));

    xtask(&["export", "snakemake"], &pipes, &by_snakemake);
    let log = run_snakemake(&exe, &by_snakemake, tmp.path());
    let stages = log.matches("Computed").count();
    assert!(stages >= 20, "only {stages} stages computed: {log}");

    let fb = tmp.path().join("b.txt");
    let fa = tmp.path().join("a.txt");
    xtask(
        &["reproduce", "--fingerprint", fb.to_str().unwrap()],
        &pipes,
        &by_xtask,
    );
    // Over the workflow's results, reproduce finds everything cached.
    let o = xtask(
        &["reproduce", "--fingerprint", fa.to_str().unwrap()],
        &pipes,
        &by_snakemake,
    );
    assert!(text(&o).contains("nothing to recompute"), "{}", text(&o));
    let (a, b) = (fs::read(&fa).unwrap(), fs::read(&fb).unwrap());
    assert!(!a.is_empty() && a == b, "the caches differ");
    for f in ["summary.json"] {
        assert_eq!(
            fs::read(by_snakemake.join(f)).unwrap(),
            fs::read(by_xtask.join(f)).unwrap(),
            "{f} differs"
        );
    }
    assert_eq!(
        report_without_timings(&by_snakemake),
        report_without_timings(&by_xtask)
    );

    // A change of the fixed-rate run's learning rate: the re-exported workflow reruns
    // exactly the stages `status` calls stale (its training stages and what reads them).
    let old = "update = { learning_rate = 0.01, delta_cap = 10.0 }";
    assert!(original.contains(old));
    let changed = original.replacen(
        old,
        "update = { learning_rate = 0.005, delta_cap = 10.0 }",
        1,
    );
    fs::write(pipes.join("fig3_linear.toml"), changed).unwrap();
    let status = text(&xtask(&["status"], &pipes, &by_snakemake));
    let stale = status.lines().filter(|l| l.starts_with("stale")).count();
    assert!(stale >= 10, "{status}");
    assert!(
        !status.lines().any(|l| l.starts_with("missing")),
        "{status}"
    );
    xtask(&["export", "snakemake"], &pipes, &by_snakemake);
    let log = run_snakemake(&exe, &by_snakemake, tmp.path());
    assert_eq!(log.matches("Computed").count(), stale, "{status}\n{log}");
    let after = text(&xtask(&["status"], &pipes, &by_snakemake));
    assert!(after.lines().all(|l| !l.starts_with("stale")), "{after}");
}

/// Each rule asks for the threads its stage can use: two for the autoencoder's training
/// (its mini-batch products run as two halves), one for every other stage, and the job
/// passes Snakemake's grant on to `stage run --threads`. Needs no snakemake.
#[test]
fn rules_ask_for_the_threads_their_stage_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let results = tmp.path().join("R");
    xtask(
        &["export", "snakemake", "--only", "fig4_mnist_autoencoder"],
        &root.join("pipelines"),
        &results,
    );
    let snakefile = fs::read_to_string(results.join("Snakefile")).unwrap();
    let mut seen = (0, 0);
    for rule in snakefile.split("\nrule ").skip(1) {
        if rule.starts_with("all:") || rule.starts_with("publish:") {
            continue;
        }
        let threads = rule
            .lines()
            .find_map(|l| l.trim().strip_prefix("threads: "))
            .expect("every rule states its threads");
        let id = rule
            .split("stage run '")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .expect("a stage's rule runs it");
        let train = id.contains("/train/");
        assert_eq!(threads, if train { "2" } else { "1" }, "{rule}");
        assert!(
            rule.contains("--threads {threads} && touch {output}"),
            "{rule}"
        );
        if train {
            seen.0 += 1;
        } else {
            seen.1 += 1;
        }
    }
    assert!(seen.0 >= 10 && seen.1 >= 5, "{seen:?}");
}
