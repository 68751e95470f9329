//! Publishing under overlapping runs, damaged published files, and `clean`.
//!
//! The concurrency test starts real processes: this test binary runs itself (through
//! `std::env::current_exe()`) with `CHILD_ENV` set, which makes the `child` test
//! publish one fake pipeline (a small summary, timings and figures, no real stages)
//! and exit with the harness's status: 0 only if publishing returned `Ok`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dinv_experiments::Scale;
use serde_json::{json, Value};
use xtask::publish::{self, Layout, PipelineOutput};

const CHILD_ENV: &str = "DINV_TEST_PUBLISH_CHILD";
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A PNG-looking file: the magic, then filler (large enough that a write takes a while
/// and interleaved writes would show).
fn png_bytes(tag: &str) -> Vec<u8> {
    let mut v = PNG_MAGIC.to_vec();
    v.extend(tag.bytes().cycle().take(256 * 1024));
    v
}

fn svg_bytes(tag: &str) -> Vec<u8> {
    let mut v = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\">".to_vec();
    v.extend(format!("<!-- {tag} -->").bytes().cycle().take(256 * 1024));
    v.extend(b"</svg>\n");
    v
}

fn summary_of(name: &str, writer: &str) -> Value {
    json!({
        "title": format!("Fake pipeline {name}"),
        "figures": [name, "shared"],
        "seeds": 1,
        "models": { "BP": { "label": "BP", "method": "bp", "alpha": 0.0 } },
        "model_order": ["BP"],
        "runs": { "r": { "BP": { "final_nmse": 0.5 } } },
        "writer": writer,
    })
}

/// The outputs of fake pipeline `name`, its figure files written into `src`: its own
/// figure and one every child shares (the same names, written by everyone), each as
/// PNG and SVG. With `missing_figure`, one source file is absent, so publishing fails.
fn fake_outputs(src: &Path, name: &str, writer: &str, missing_figure: bool) -> PipelineOutput {
    std::fs::create_dir_all(src).unwrap();
    let mut figures = Vec::new();
    for stem in [name, "shared"] {
        for (ext, bytes) in [("png", png_bytes(writer)), ("svg", svg_bytes(writer))] {
            let file = format!("{stem}.{ext}");
            let path = src.join(&file);
            std::fs::write(&path, bytes).unwrap();
            figures.push((file, path));
        }
    }
    if missing_figure {
        std::fs::remove_file(&figures[0].1).unwrap();
    }
    PipelineOutput {
        name: name.to_string(),
        summary: Some(summary_of(name, writer)),
        timings: Some(json!({ "stages": 3, "total_seconds": 1.5, "writer": writer })),
        figures,
    }
}

/// The child's role: `root|go-file|name|missing` in `CHILD_ENV`. Waits for the go file
/// (so that all children start publishing together), then publishes; a panic (an
/// `Err` from publishing) makes the harness exit non-zero.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return; // an ordinary test run: not a child
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let (root, go, name, missing) = (
        PathBuf::from(parts[0]),
        PathBuf::from(parts[1]),
        parts[2],
        parts[3] == "1",
    );
    let writer = format!("{name}-pid{}", std::process::id());
    let outputs = fake_outputs(&root.join("src").join(name), name, &writer, missing);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !go.exists() {
        assert!(Instant::now() < deadline, "no go signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    let layout = Layout::new(&root, Scale::Smoke);
    publish::publish_outputs(&layout, true, &[outputs]).expect("publishing failed");
}

fn spawn_child(root: &Path, go: &Path, name: &str, missing: bool) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads", "1"])
        .env(
            CHILD_ENV,
            format!(
                "{}|{}|{name}|{}",
                root.display(),
                go.display(),
                u8::from(missing)
            ),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` at most until `deadline`; kills it (and fails) past that.
fn wait(mut child: Child, deadline: Instant) -> (bool, String) {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status.success(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a publishing child did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Every published figure's bytes match its extension.
fn assert_figures_match_extensions(dir: &Path) {
    for f in files_under(dir) {
        let bytes = std::fs::read(&f).unwrap();
        match f.extension().and_then(|e| e.to_str()) {
            Some("png") => assert!(bytes.starts_with(PNG_MAGIC), "{} is not a PNG", f.display()),
            Some("svg") => assert!(
                bytes.starts_with(b"<svg") || bytes.starts_with(b"<?xml"),
                "{} is not an SVG",
                f.display()
            ),
            _ => panic!("unexpected file {} among the figures", f.display()),
        }
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Rounds of concurrent publishers of different pipelines into one scale, each round
/// with one publisher that fails (a figure of its run is missing). Checked after each
/// round: every publisher that exited 0 has its summary and timings entries, written
/// by itself, and the one that failed says so and has published no summary entry;
/// the entry published before the round survives; every figure's bytes match its
/// extension; no temporary file is left; the report lists every published pipeline.
#[test]
fn concurrent_publishers_lose_nothing_and_tell_the_truth() {
    const ROUNDS: usize = 8;
    const PUBLISHERS: usize = 4; // + 1 that fails
    let started = Instant::now();
    let (mut succeeded, mut failed) = (0, 0);
    for round in 0..ROUNDS {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let layout = Layout::new(root, Scale::Smoke);
        // An entry from an earlier run, which nobody in this round publishes.
        let earlier = fake_outputs(&root.join("src/earlier"), "earlier", "earlier", false);
        publish::publish_outputs(&layout, true, &[earlier]).unwrap();
        let go = root.join("go");
        let mut children = Vec::new();
        for k in 0..=PUBLISHERS {
            let missing = k == PUBLISHERS;
            let name = format!("p{k}");
            children.push((
                name.clone(),
                missing,
                spawn_child(root, &go, &name, missing),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(&go, b"go").unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let results: Vec<_> = children
            .into_iter()
            .map(|(name, missing, c)| (name, missing, wait(c, deadline)))
            .collect();

        let results_dir = layout.results_dir();
        let summary = read_json(&results_dir.join("summary.json"));
        let timings = read_json(&results_dir.join("timings.json"));
        assert!(
            summary.get("earlier").is_some(),
            "round {round}: lost the earlier entry"
        );
        for (name, missing, (ok, stderr)) in &results {
            if *missing {
                assert!(!ok, "round {round}: {name} could not publish but exited 0");
                assert!(stderr.contains("publishing failed"), "{stderr}");
                assert!(
                    summary.get(name).is_none(),
                    "{name} failed yet has an entry"
                );
                failed += 1;
                continue;
            }
            assert!(ok, "round {round}: {name} failed:\n{stderr}");
            succeeded += 1;
            let entry = summary
                .get(name)
                .unwrap_or_else(|| panic!("round {round}: {name} exited 0, its entry is lost"));
            let writer = entry["writer"].as_str().unwrap();
            assert!(writer.starts_with(&format!("{name}-pid")), "{writer}");
            assert_eq!(timings[name]["writer"].as_str(), Some(writer));
            for ext in ["png", "svg"] {
                let fig = std::fs::read(results_dir.join(format!("figures/{name}.{ext}"))).unwrap();
                let own = if ext == "png" {
                    png_bytes(writer)
                } else {
                    svg_bytes(writer)
                };
                assert!(fig == own, "round {round}: {name}.{ext} is not its own");
            }
        }
        assert_figures_match_extensions(&results_dir.join("figures"));
        let leftovers: Vec<_> = files_under(&results_dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        let report = std::fs::read_to_string(results_dir.join("REPRODUCTION.md")).unwrap();
        for name in summary.as_object().unwrap().keys() {
            assert!(
                report.contains(&format!("Fake pipeline {name}")),
                "report misses {name}"
            );
        }
    }
    eprintln!(
        "{ROUNDS} rounds of {} concurrent publishers: {succeeded} published and exited 0, {failed} failed and exited non-zero, in {:.1} s",
        PUBLISHERS + 1,
        started.elapsed().as_secs_f64()
    );
}

/// A figure's PNG and SVG, written one after the other, each through its own temporary
/// file: the old code wrote both through `<stem>.tmp`.
#[test]
fn temporary_names_are_unique_per_file_and_write() {
    let a = publish::temp_path(Path::new("/x/figures/fig3a.png"));
    let b = publish::temp_path(Path::new("/x/figures/fig3a.svg"));
    let c = publish::temp_path(Path::new("/x/figures/fig3a.png"));
    assert_ne!(a, b);
    assert_ne!(a, c);
    let name = a.file_name().unwrap().to_string_lossy().into_owned();
    let pid = std::process::id().to_string();
    assert!(
        name.starts_with(".fig3a.png.") && name.ends_with(".tmp"),
        "{name}"
    );
    assert!(name.contains(&format!(".{pid}.")), "{name}");
    assert_eq!(a.parent(), Some(Path::new("/x/figures")));
}

/// A truncated summary and a timings file that is not an object are rebuilt, with a
/// warning naming each file, instead of failing the run after all its stages.
#[test]
fn damaged_summary_and_timings_are_rebuilt_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::new(tmp.path(), Scale::Smoke);
    let first = fake_outputs(&tmp.path().join("src/a"), "a", "a", false);
    publish::publish_outputs(&layout, true, &[first]).unwrap();
    let dir = layout.results_dir();
    let full = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    std::fs::write(dir.join("summary.json"), &full[..full.len() / 2]).unwrap();
    std::fs::write(dir.join("timings.json"), "[1, 2]").unwrap();

    let second = fake_outputs(&tmp.path().join("src/b"), "b", "b", false);
    let published = publish::publish_outputs(&layout, true, &[second]).unwrap();
    assert_eq!(published.warnings.len(), 2, "{:?}", published.warnings);
    assert!(published.warnings[0].contains("summary.json is damaged"));
    assert!(published.warnings[0].contains("not valid JSON"));
    assert!(published.warnings[1].contains("timings.json is damaged"));
    assert!(published.warnings[1].contains("not a JSON object"));
    for w in &published.warnings {
        assert!(w.contains("rebuilt from this run's pipelines (b)"), "{w}");
    }
    let summary = read_json(&dir.join("summary.json"));
    assert_eq!(
        summary.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["b"]
    );
    let timings = read_json(&dir.join("timings.json"));
    assert_eq!(
        timings.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["b"]
    );

    // Entries that are not objects are dropped, the readable ones kept.
    std::fs::write(
        dir.join("summary.json"),
        r#"{"b": {"title": "x"}, "junk": 3}"#,
    )
    .unwrap();
    let third = fake_outputs(&tmp.path().join("src/c"), "c", "c", false);
    let published = publish::publish_outputs(&layout, true, &[third]).unwrap();
    assert_eq!(published.warnings.len(), 1, "{:?}", published.warnings);
    assert!(published.warnings[0].contains("junk"));
    let summary = read_json(&dir.join("summary.json"));
    assert_eq!(
        summary.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["b", "c"]
    );

    // `cargo xtask report` has nothing to rebuild from: a damaged summary is an error
    // that says what to run.
    std::fs::write(dir.join("summary.json"), "{").unwrap();
    let err = publish::write_report(tmp.path(), Scale::Smoke)
        .unwrap_err()
        .to_string();
    assert!(err.contains("summary.json is damaged"), "{err}");
    assert!(err.contains("cargo xtask reproduce --scale smoke"), "{err}");
}

/// Pipelines from another folder publish into results/<scale>/ only; the project's own
/// at paper scale into paper/ as well.
#[test]
fn custom_pipelines_never_publish_into_paper() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::new(tmp.path(), Scale::Paper);
    let custom = fake_outputs(&tmp.path().join("src/mine"), "mine", "mine", false);
    publish::publish_outputs(&layout, false, &[custom]).unwrap();
    assert!(!tmp.path().join("paper").exists());
    let summary = read_json(&tmp.path().join("results/paper/summary.json"));
    assert!(summary.get("mine").is_some());
    assert!(tmp.path().join("results/paper/figures/mine.png").exists());
    assert!(tmp.path().join("results/paper/REPRODUCTION.md").exists());

    let official = fake_outputs(&tmp.path().join("src/fig"), "fig", "fig", false);
    publish::publish_outputs(&layout, true, &[official]).unwrap();
    let paper = read_json(&tmp.path().join("paper/summary.json"));
    assert_eq!(
        paper.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["fig"]
    );
    assert!(tmp.path().join("paper/figures/fig.svg").exists());
    let results = read_json(&tmp.path().join("results/paper/summary.json"));
    assert_eq!(
        results.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["fig", "mine"]
    );
}

/// `clean` removes the scale's cache and published files in results/<scale>/, leftover
/// temporary files included, and never paper/.
#[test]
fn clean_removes_published_results_but_not_paper() {
    let tmp = tempfile::tempdir().unwrap();
    for scale in [Scale::Smoke, Scale::Paper] {
        let layout = Layout::new(tmp.path(), scale);
        let out = fake_outputs(&tmp.path().join("src/x"), "x", "x", false);
        publish::publish_outputs(&layout, true, &[out]).unwrap();
        std::fs::create_dir_all(layout.cache_dir().join("kind/key")).unwrap();
        std::fs::write(layout.results_dir().join(".summary.json.99.0.tmp"), "{").unwrap();
    }
    let removed = publish::clean(tmp.path(), Scale::Paper).unwrap();
    assert_eq!(removed.len(), 6, "{removed:?}");
    let left: Vec<_> = files_under(&tmp.path().join("results/paper"))
        .into_iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [".publish.lock"]);
    // paper/ and the other scale are untouched.
    for f in [
        "paper/summary.json",
        "paper/figures/x.png",
        "paper/REPRODUCTION.md",
    ] {
        assert!(tmp.path().join(f).exists(), "{f}");
    }
    assert!(tmp.path().join("results/smoke/summary.json").exists());
    assert!(tmp.path().join("results/smoke/cache/kind/key").exists());
}

/// The executor's reporter prints each warning as it happens unless quiet: xtask
/// repeats them only with --quiet, so none is printed twice.
#[test]
fn run_warnings_are_printed_once() {
    let w = vec!["cache entry x is corrupt".to_string()];
    assert!(xtask::warnings_to_repeat(&w, false).is_empty());
    assert_eq!(xtask::warnings_to_repeat(&w, true), &w[..]);
}
