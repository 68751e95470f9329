//! Tidy: the architecture's invariants (ARCHITECTURE.md), checked on the source tree so
//! that a change which breaks one fails a test instead of waiting for a reviewer. Each
//! check reads files only; none runs a pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use dinv_experiments::{load_pipeline, pipeline_files, Scale};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace root")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without its comments: line comments and doc comments are cut, so
/// that prose mentioning a forbidden name does not count.
fn code_of(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `(file, line)` of every occurrence of any of `needles` in the code of `files`.
fn occurrences(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for f in files {
        for (k, line) in code_of(f).lines().enumerate() {
            if let Some(n) = needles.iter().find(|n| line.contains(*n)) {
                hits.push(format!("{}:{}: `{n}`", f.display(), k + 1));
            }
        }
    }
    hits
}

/// The checks below must be able to fail: each is first run on a hand-made violation.
fn assert_catches(hits: Vec<String>, what: &str) {
    assert!(
        !hits.is_empty(),
        "the {what} check misses a planted violation"
    );
}

#[test]
fn core_does_no_file_io() {
    let files = rust_files(&root().join("crates/dinv-core/src"));
    assert!(
        files.len() > 10,
        "found only {} files in dinv-core",
        files.len()
    );
    let needles = ["std::fs", "fs::", "File::", "OpenOptions"];
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted.rs");
    fs::write(&planted, "fn f() { let _ = std::fs::read(\"x\"); }\n").unwrap();
    assert_catches(occurrences(&[planted], &needles), "file-I/O");
    let hits = occurrences(&files, &needles);
    assert!(
        hits.is_empty(),
        "dinv-core is the maths: no file I/O (the stages in dinv-experiments do it):\n{}",
        hits.join("\n")
    );
}

/// The pipeline-file schema is not dinv-core's business: its parameter types are plain
/// structs, serialisable only through the optional `serde` feature that the experiments
/// turn on. Every mention of serde in core sits inside `cfg_attr(feature = "serde", …)`,
/// and serde is an optional dependency of the crate.
#[test]
fn core_knows_serde_only_behind_its_feature() {
    // Each file's code with every `cfg_attr(feature = "serde", …)` cut out (rustfmt may
    // wrap one over several lines); any `serde` left is outside the feature.
    let outside = |files: &[PathBuf]| -> Vec<String> {
        let mut hits = Vec::new();
        for f in files {
            let mut code = code_of(f);
            while let Some(start) = code.find("cfg_attr(") {
                let rest = &code[start + "cfg_attr(".len()..];
                if !rest.trim_start().starts_with("feature = \"serde\"") {
                    code.replace_range(start..start + "cfg_attr(".len(), "cfg-attr(");
                    continue;
                }
                let mut depth = 1;
                let mut end = start + "cfg_attr(".len();
                for (i, c) in code[end..].char_indices() {
                    depth += i32::from(c == '(') - i32::from(c == ')');
                    if depth == 0 {
                        end += i + 1;
                        break;
                    }
                }
                let lines = code[start..end].matches('\n').count();
                code.replace_range(start..end, &"\n".repeat(lines));
            }
            for (k, line) in code.lines().enumerate() {
                if line.contains("serde") {
                    hits.push(format!("{}:{}: {}", f.display(), k + 1, line.trim()));
                }
            }
        }
        hits
    };
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted.rs");
    fs::write(&planted, "#[derive(serde::Serialize)]\nstruct S;\n").unwrap();
    assert_catches(outside(&[planted]), "serde-in-core");
    let hits = outside(&rust_files(&root().join("crates/dinv-core/src")));
    assert!(
        hits.is_empty(),
        "serde in dinv-core outside its optional feature:\n{}",
        hits.join("\n")
    );
    let manifest = fs::read_to_string(root().join("crates/dinv-core/Cargo.toml")).unwrap();
    let serde_dep = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("serde"))
        .expect("dinv-core declares serde (optional)");
    assert!(
        serde_dep.contains("optional = true"),
        "serde must be an optional dependency of dinv-core: {serde_dep}"
    );
}

#[test]
fn only_dinv_pipeline_knows_the_cache_layout() {
    let root = root();
    let mut files = rust_files(&root.join("xtask/src"));
    for c in ["dinv-core", "dinv-data", "dinv-figures", "dinv-experiments"] {
        files.extend(rust_files(&root.join("crates").join(c).join("src")));
    }
    let needles = ["manifest.json", "\"manifest\"", "checkpoint.json"];
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted.rs");
    fs::write(&planted, "const M: &str = \"manifest.json\";\n").unwrap();
    assert_catches(occurrences(&[planted], &needles), "cache-layout");
    let hits = occurrences(&files, &needles);
    assert!(
        hits.is_empty(),
        "only dinv-pipeline may know the cache's files (ask its API instead):\n{}",
        hits.join("\n")
    );
}

// Experiment kinds, as folders (or, for a one-file plug-in, a file `<name>.rs`).
const EXPERIMENTS: [&str; 4] = ["regression", "classification", "autoencoder", "convergence"];

/// Imports of other experiments or of the report from the files of `dir`, which belong
/// to experiment `own` (or to none, for the shared modules).
fn foreign_imports(files: &[PathBuf], own: Option<&str>) -> Vec<String> {
    let mut needles: Vec<String> = EXPERIMENTS
        .iter()
        .filter(|e| Some(**e) != own)
        .map(|e| format!("crate::{e}"))
        .collect();
    needles.push("crate::report".into());
    let refs: Vec<&str> = needles.iter().map(String::as_str).collect();
    occurrences(files, &refs)
}

#[test]
fn experiments_import_neither_each_other_nor_the_report() {
    let src = root().join("crates/dinv-experiments/src");
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted.rs");
    fs::write(&planted, "use crate::regression::train::MetricLog;\n").unwrap();
    assert_catches(
        foreign_imports(&[planted], Some("classification")),
        "cross-experiment",
    );
    let mut hits = Vec::new();
    for e in EXPERIMENTS {
        let (dir, file) = (src.join(e), src.join(format!("{e}.rs")));
        let files = if dir.is_dir() {
            rust_files(&dir)
        } else {
            vec![file]
        };
        hits.extend(foreign_imports(&files, Some(e)));
    }
    // The shared modules (curves, checkpoint, tables, spec, ...) and the report's
    // registry serve every experiment, so they import none; only lib.rs (the registry,
    // `EXPERIMENTS`) names them.
    let shared: Vec<PathBuf> = rust_files(&src)
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            !EXPERIMENTS
                .iter()
                .any(|e| top == *e || top == format!("{e}.rs"))
                && top != "lib.rs"
        })
        .collect();
    assert!(shared.iter().any(|p| p.ends_with("spec.rs")));
    assert!(shared.iter().any(|p| p.ends_with("report.rs")));
    // The report may of course name itself (its own tests).
    let (report, shared): (Vec<PathBuf>, Vec<PathBuf>) =
        shared.into_iter().partition(|p| p.ends_with("report.rs"));
    hits.extend(foreign_imports(&shared, None));
    hits.extend(
        foreign_imports(&report, None)
            .into_iter()
            .filter(|h| !h.contains("crate::report")),
    );
    assert!(
        hits.is_empty(),
        "experiments are plug-ins: shared code goes to curves/, tables.rs, dinv-report …, \
         never from one experiment into another:\n{}",
        hits.join("\n")
    );
}

/// The report and its verdicts live in dinv-report, which reads summaries and knows no
/// experiment: it depends on no experiment crate, and names none.
#[test]
fn the_report_crate_knows_no_experiment() {
    let manifest = fs::read_to_string(root().join("crates/dinv-report/Cargo.toml")).unwrap();
    let needles = [
        "dinv-experiments",
        "dinv_experiments",
        "dinv-core",
        "dinv_core",
    ];
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted.rs");
    fs::write(&planted, "use dinv_experiments::EXPERIMENTS;\n").unwrap();
    assert_catches(
        occurrences(&[planted], &needles),
        "report-knows-experiments",
    );
    let in_manifest: Vec<&str> = manifest
        .lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .collect();
    assert!(
        in_manifest.is_empty(),
        "dinv-report must not depend on the experiments or the science: {in_manifest:?}"
    );
    let hits = occurrences(
        &rust_files(&root().join("crates/dinv-report/src")),
        &needles,
    );
    assert!(
        hits.is_empty(),
        "dinv-report names an experiment crate:\n{}",
        hits.join("\n")
    );
}

#[test]
fn one_version_per_stage_kind() {
    let root = root();
    let mut files = pipeline_files(&root.join("pipelines")).unwrap();
    files.sort();
    assert!(files.len() >= 5);
    // kind -> version -> a stage that uses it
    let mut seen: BTreeMap<String, BTreeMap<u32, String>> = BTreeMap::new();
    for scale in [Scale::Smoke, Scale::Paper] {
        for f in &files {
            let p = load_pipeline(f, scale).unwrap_or_else(|e| panic!("{e}"));
            for s in p.graph.stages() {
                seen.entry(s.kind.clone())
                    .or_default()
                    .entry(s.kind_version)
                    .or_insert_with(|| s.id.clone());
            }
        }
    }
    assert!(seen.len() >= 10, "only {} stage kinds found", seen.len());
    let clashes: Vec<String> = seen
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, v)| format!("{k}: {v:?}"))
        .collect();
    assert!(
        clashes.is_empty(),
        "a stage kind has one version (its cache keys must mean one computation):\n{}",
        clashes.join("\n")
    );
}

/// The numbered equations dinv-core implements; each must be cited in a doc comment
/// there, so that `grep "Eq. 15"` lands on its implementation.
const EQUATIONS: &[&str] = &[
    "Eq. 2", "Eq. 8", "Eq. 9", "Eq. 10", "Eq. 14", "Eq. 15", "Eq. 17", "Eq. S9",
];

#[test]
fn core_cites_the_equations_it_implements() {
    let files = rust_files(&root().join("crates/dinv-core/src"));
    let mut docs = String::new();
    for f in &files {
        for l in fs::read_to_string(f).unwrap().lines() {
            let t = l.trim_start();
            if t.starts_with("///") || t.starts_with("//!") {
                // "Eq. (S9)" and "Eq. S9" are the same citation.
                docs.push_str(&t.replace("Eq. (", "Eq. ").replace(')', " "));
                docs.push('\n');
            }
        }
    }
    let cited = |eq: &str| {
        docs.match_indices(eq).any(|(i, _)| {
            // "Eq. 1" must not match "Eq. 15".
            !docs[i + eq.len()..].starts_with(|c: char| c.is_ascii_digit())
        })
    };
    assert!(!cited("Eq. 99"), "the citation check accepts anything");
    let missing: Vec<&str> = EQUATIONS.iter().copied().filter(|e| !cited(e)).collect();
    assert!(
        missing.is_empty(),
        "no doc comment in dinv-core cites {missing:?}"
    );
}

/// Backticked names in ARCHITECTURE.md that look like paths of this repository.
fn architecture_paths(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| !t.contains(' ') && !t.contains("::") && !t.starts_with("../"))
        .filter(|t| {
            t.ends_with(".rs")
                || t.ends_with(".toml") && t.contains('/')
                || t.ends_with('/') && !t.starts_with("results")
                || t.starts_with("crates/")
        })
        .filter(|t| !t.contains('*') && !t.contains('<'))
        .map(str::to_string)
        .collect()
}

/// A path named in ARCHITECTURE.md exists from the root, or inside one crate (its
/// `src/`), as the code map writes paths relative to the crate it describes.
fn exists_in_repo(root: &Path, p: &str) -> bool {
    let p = p.trim_end_matches('/');
    if root.join(p).exists() {
        return true;
    }
    let crates: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .chain([root.join("xtask")])
        .collect();
    crates
        .iter()
        .any(|c| c.join(p).exists() || c.join("src").join(p).exists())
}

#[test]
fn architecture_code_map_names_real_paths() {
    let root = root();
    assert!(!exists_in_repo(&root, "regression/no_such_file.rs"));
    let text = fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let paths = architecture_paths(&text);
    assert!(
        paths.len() >= 10,
        "only {} paths read: {paths:?}",
        paths.len()
    );
    let missing: Vec<&String> = paths.iter().filter(|p| !exists_in_repo(&root, p)).collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}

/// One damped-Newton loop in dinv-core (`newton.rs`): its backtracking rule
/// (`‖F‖ < (1 − 10⁻⁴ t)‖F(x)‖`, `t` halved) appears nowhere else.
#[test]
fn one_newton_loop_in_core() {
    let files = rust_files(&root().join("crates/dinv-core/src"));
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted.rs");
    fs::write(&planted, "fn f(mut t: f64) { t *= 0.5; }\n").unwrap();
    assert_catches(occurrences(&[planted], &["t *= 0.5"]), "Newton-loop");
    let hits: Vec<String> = occurrences(&files, &["t *= 0.5", "1e-4 * t"])
        .into_iter()
        .filter(|h| !h.contains("newton.rs"))
        .collect();
    assert!(
        hits.is_empty(),
        "a second damped-Newton loop: use crate::newton::solve\n{}",
        hits.join("\n")
    );
}

/// Eq. 3's method switch (`M_l` of BP, FA, PBP, NDI, DI) and the re-stabilisation
/// policy live in dinv-core (`Credit::propagate_layer`, `Credit::backward_batch`,
/// `Credit::restabilise_layer`): no other crate applies a transpose, a pseudoinverse,
/// NDI's closed form by a factorisation or SSA itself. (An analysis may still call
/// `ndi_inverse`, Eq. 10's reference, or simulate a `LayerSystem`.)
#[test]
fn credit_assignment_runs_through_core() {
    let needles = [
        "pinv_apply",
        "ndi_apply",
        "min_norm_lstsq",
        "ssa_stabilise",
        "ssa_optimise",
        "matvec_t(",
    ];
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted.rs");
    fs::write(&planted, "fn f() { matvec_t(w, d, &mut o); }\n").unwrap();
    assert_catches(occurrences(&[planted], &needles), "method-switch");
    let files: Vec<PathBuf> = [
        "dinv-experiments",
        "dinv-data",
        "dinv-pipeline",
        "dinv-figures",
    ]
    .iter()
    .flat_map(|c| rust_files(&root().join("crates").join(c).join("src")))
    .chain(rust_files(&root().join("xtask/src")))
    .collect();
    let hits = occurrences(&files, &needles);
    assert!(
        hits.is_empty(),
        "credit assignment outside dinv-core: call Credit::propagate_layer, \
         Credit::backward_batch or Credit::restabilise_layer\n{}",
        hits.join("\n")
    );
}

/// Every stage of an experiment is typed: added with `StageSpec::of` from a parameter
/// struct that implements `dinv_pipeline::Stage`, which gets its parameters as built
/// (never `StageSpec::at`/`new` with a hand-set kind and version, never deserialising its
/// own parameters), and each kind is declared by exactly one `impl Stage`.
#[test]
fn experiment_stages_are_typed_and_declared_once() {
    let needles = [
        "StageSpec::at(",
        "StageSpec::new(",
        "params_as",
        "ctx.params()",
    ];
    let dir = tempfile::tempdir().unwrap();
    let planted = dir.path().join("planted.rs");
    fs::write(
        &planted,
        "fn f(ctx: &mut StageContext<'_>) { let p: P = ctx.params_as()?; }\n\
         const KIND: &'static str = \"twice\";\nconst KIND: &'static str = \"twice\";\n",
    )
    .unwrap();
    assert_catches(occurrences(&[planted.clone()], &needles), "untyped-stage");
    let kinds_in = |files: &[PathBuf]| -> BTreeMap<String, Vec<String>> {
        let mut kinds: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in files {
            for (k, line) in code_of(f).lines().enumerate() {
                if let Some(rest) = line.trim().strip_prefix("const KIND: &'static str = \"") {
                    let kind = rest.split('"').next().unwrap_or_default().to_string();
                    kinds
                        .entry(kind)
                        .or_default()
                        .push(format!("{}:{}", f.display(), k + 1));
                }
            }
        }
        kinds
    };
    let twice = |k: &BTreeMap<String, Vec<String>>| -> Vec<String> {
        k.iter()
            .filter(|(_, at)| at.len() > 1)
            .map(|(kind, at)| format!("{kind}: {}", at.join(", ")))
            .collect()
    };
    assert_catches(twice(&kinds_in(&[planted])), "kind-declared-twice");

    let files = rust_files(&root().join("crates/dinv-experiments/src"));
    let hits = occurrences(&files, &needles);
    assert!(
        hits.is_empty(),
        "an untyped stage: implement dinv_pipeline::Stage for its parameters and add it \
         with StageSpec::of\n{}",
        hits.join("\n")
    );
    let kinds = kinds_in(&files);
    assert!(
        kinds.len() >= 15,
        "only {} stage kinds declared",
        kinds.len()
    );
    let dup = twice(&kinds);
    assert!(
        dup.is_empty(),
        "a stage kind declared twice:\n{}",
        dup.join("\n")
    );
}
