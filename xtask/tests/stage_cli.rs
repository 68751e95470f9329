//! `cargo xtask stage run` and `cargo xtask status` as a workflow engine uses them: real
//! processes on a shared cache folder.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const DATA: &str = "fig3_linear/fixed_lr/s1/data";
const TRAIN: &str = "fig3_linear/fixed_lr/s1/train/DI-Tr-0.01";

fn xtask(args: &[&str], pipelines: &Path, cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .args(["--scale", "smoke", "--pipelines"])
        .arg(pipelines)
        .arg("--results")
        .arg(cache)
        .env_remove("DINV_DATA_DIR")
        .env("DINV_NO_SYSTEM_DATA", "1")
        .output()
        .expect("xtask starts")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A folder holding a copy of the linear-regression pipeline, its text edited by `edit`.
fn pipelines(dir: &Path, edit: impl Fn(String) -> String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let original = fs::read_to_string(root.join("pipelines/fig3_linear.toml")).unwrap();
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("fig3_linear.toml"), edit(original)).unwrap();
}

/// The finished entries (not staging directories or locks) of one stage kind.
fn entries(cache: &Path, kind: &str) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(cache.join("cache").join(kind))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn one_stage_per_process_waits_for_its_inputs_and_races_safely() {
    let tmp = tempfile::tempdir().unwrap();
    let (pipes, cache) = (tmp.path().join("pipelines"), tmp.path().join("cache"));
    pipelines(&pipes, |t| t);

    // Its input is not cached: a clear error naming it, and nothing computed.
    let o = xtask(&["stage", "run", TRAIN], &pipes, &cache);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("not cached yet") && text(&o).contains(DATA),
        "{}",
        text(&o)
    );
    assert!(entries(&cache, "regression_train").is_empty());

    // An unknown id is an error too.
    let o = xtask(
        &["stage", "run", "fig3_linear/no/such/stage"],
        &pipes,
        &cache,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("no stage"), "{}", text(&o));

    let o = xtask(&["stage", "run", DATA], &pipes, &cache);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(entries(&cache, "regression_data").len(), 1);

    // Two processes race on the same stage: both succeed, one entry results, and it
    // verifies (status reads it as cached).
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["stage", "run", TRAIN, "--scale", "smoke", "--pipelines"])
            .arg(&pipes)
            .arg("--results")
            .arg(&cache)
            .env("DINV_NO_SYSTEM_DATA", "1")
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    let outcomes = format!("{}{}", text(&a), text(&b));
    assert_eq!(outcomes.matches("Computed").count(), 1, "{outcomes}");
    assert_eq!(outcomes.matches("Cached").count(), 1, "{outcomes}");
    assert_eq!(entries(&cache, "regression_train").len(), 1);

    let o = xtask(&["status", "--all", "--only", TRAIN], &pipes, &cache);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.lines()
            .any(|l| l.starts_with("cached") && l.contains(TRAIN)),
        "{out}"
    );
    assert!(out.contains("2 stages: 2 cached"), "{out}");
}

#[test]
fn status_explains_a_stale_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let (pipes, cache) = (tmp.path().join("pipelines"), tmp.path().join("cache"));
    pipelines(&pipes, |t| t);
    for id in [DATA, TRAIN] {
        let o = xtask(&["stage", "run", id], &pipes, &cache);
        assert!(o.status.success(), "{}", text(&o));
    }
    // The fixed-rate run's learning rate changes: its training stages are stale for
    // that parameter; the data stage is untouched.
    let old = "update = { learning_rate = 0.01, delta_cap = 10.0 }";
    pipelines(&pipes, |t| {
        assert!(t.contains(old));
        t.replacen(
            old,
            "update = { learning_rate = 0.02, delta_cap = 10.0 }",
            1,
        )
    });
    let o = xtask(&["status", "--only", TRAIN], &pipes, &cache);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let line = out
        .lines()
        .find(|l| l.contains(TRAIN))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.starts_with("stale"), "{out}");
    assert!(
        line.contains("parameter `run.update.learning_rate` changed: 0.01 → 0.02"),
        "{out}"
    );
    assert!(!out.lines().any(|l| l.contains(DATA)), "{out}");
    assert!(out.contains("2 stages: 1 cached, 1 stale"), "{out}");
}
