//! Tables survive Parquet bit-exactly, errors name columns and files, and bytes are
//! deterministic.

use std::fs;
use std::path::Path;
use std::process::Command;

use dinv_pipeline::{Column, Table, TableError};

fn tricky_f64() -> Vec<f64> {
    vec![
        0.0,
        -0.0,
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff8_0000_0000_1234), // NaN with a payload
        f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        f64::from_bits(1), // smallest subnormal
        f64::MAX,
        f64::MIN,
        1.0 / 3.0,
        -1e-300,
    ]
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn sample() -> Table {
    Table::new()
        .with_i64("step", vec![0, 1, i64::MAX, i64::MIN, -1])
        .unwrap()
        .with_f64("value", vec![0.5, -0.0, f64::NAN, 1e-300, 2.0])
        .unwrap()
        .with_str(
            "algorithm",
            ["BP", "", "ünïcödé", "with\nnewline", "BP"]
                .map(String::from)
                .to_vec(),
        )
        .unwrap()
}

#[test]
fn f64_bit_patterns_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.parquet");
    let values = tricky_f64();
    // Also a long, low-cardinality column mixing 0.0 and -0.0, which an encoder that
    // deduplicates values by `==` would merge.
    let zeros: Vec<f64> = (0..1000)
        .map(|i| if i % 3 == 0 { -0.0 } else { 0.0 })
        .collect();
    let t = Table::new().with_f64("x", values.clone()).unwrap();
    t.write_parquet(&path).unwrap();
    let back = Table::read_parquet(&path).unwrap();
    assert_eq!(back.column_names(), ["x"]);
    assert_eq!(bits(back.f64("x").unwrap()), bits(&values));

    let t = Table::new().with_f64("zeros", zeros.clone()).unwrap();
    t.write_parquet(&path).unwrap();
    let back = Table::read_parquet(&path).unwrap();
    assert_eq!(bits(back.f64("zeros").unwrap()), bits(&zeros));
}

#[test]
fn i64_and_str_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let t = sample();
    t.write_parquet(&path).unwrap();
    let back = Table::read_parquet(&path).unwrap();
    assert_eq!(back.column_names(), ["step", "value", "algorithm"]);
    assert_eq!(back.len(), 5);
    assert_eq!(back.i64("step").unwrap(), t.i64("step").unwrap());
    assert_eq!(back.str("algorithm").unwrap(), t.str("algorithm").unwrap());
    assert_eq!(
        bits(back.f64("value").unwrap()),
        bits(t.f64("value").unwrap())
    );
    // Repetitive strings and integers (dictionary-encoded by the writer).
    let n = 5000;
    let t = Table::new()
        .with_str("metric", (0..n).map(|i| format!("m{}", i % 3)).collect())
        .unwrap()
        .with_i64("layer", (0..n).map(|i| (i % 4) as i64 - 2).collect())
        .unwrap();
    t.write_parquet(&path).unwrap();
    assert_eq!(Table::read_parquet(&path).unwrap(), t);
}

#[test]
fn empty_tables_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    let t = Table::new()
        .with_f64("a", vec![])
        .unwrap()
        .with_str("b", vec![])
        .unwrap();
    t.write_parquet(&path).unwrap();
    let back = Table::read_parquet(&path).unwrap();
    assert_eq!(back, t);
    assert!(back.is_empty());
    assert_eq!(back.column("b").unwrap(), &Column::Str(vec![]));
}

#[test]
fn missing_and_mistyped_columns_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.parquet");
    sample().write_parquet(&path).unwrap();
    let t = Table::read_parquet(&path).unwrap();

    let err = t.f64("loss").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TableError::MissingColumn { .. }));
    assert!(msg.contains("`loss`"), "{msg}");
    assert!(msg.contains("metrics.parquet"), "{msg}");
    assert!(msg.contains("`step`, `value`, `algorithm`"), "{msg}");

    let err = t.f64("step").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        err,
        TableError::WrongType {
            expected: "f64",
            found: "i64",
            ..
        }
    ));
    assert!(
        msg.contains("`step`") && msg.contains("metrics.parquet"),
        "{msg}"
    );
    assert!(t.str("value").is_err() && t.i64("algorithm").is_err());

    let mem = Table::new().with_label("stage x output y");
    let msg = mem.i64("z").unwrap_err().to_string();
    assert!(
        msg.contains("stage x output y") && msg.contains("`z`"),
        "{msg}"
    );
}

#[test]
fn builder_errors_name_the_column() {
    let err = Table::new()
        .with_f64("a", vec![1.0, 2.0])
        .unwrap()
        .with_i64("b", vec![1])
        .unwrap_err();
    assert!(matches!(
        err,
        TableError::LengthMismatch {
            expected: 2,
            found: 1,
            ..
        }
    ));
    assert!(err.to_string().contains("`b`"));
    let mut t = Table::new();
    t.push_str("s", vec!["x".into()]).unwrap();
    let err = t.push_f64("s", vec![1.0]).unwrap_err();
    assert!(matches!(err, TableError::DuplicateColumn { .. }));
    assert_eq!(t.width(), 1);
}

#[test]
fn bytes_are_deterministic_and_distinguish_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.parquet"),
        dir.path().join("b.parquet"),
        dir.path().join("c.parquet"),
    );
    sample().write_parquet(&a).unwrap();
    sample().write_parquet(&b).unwrap();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());

    // One bit differs: -0.0 becomes 0.0.
    let mut values = sample().f64("value").unwrap().to_vec();
    values[1] = 0.0;
    let t = Table::new()
        .with_i64("step", sample().i64("step").unwrap().to_vec())
        .unwrap()
        .with_f64("value", values)
        .unwrap()
        .with_str("algorithm", sample().str("algorithm").unwrap().to_vec())
        .unwrap();
    t.write_parquet(&c).unwrap();
    assert_ne!(fs::read(&a).unwrap(), fs::read(&c).unwrap());

    // Atomic write: nothing but the three files is left behind.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.parquet", "b.parquet", "c.parquet"]);
}

const CHILD_ENV: &str = "DINV_TABLE_TEST_WRITE_TO";

/// Writes `sample()` in two fresh processes and compares with this process's bytes, so
/// that per-process state (hash seeds, thread pools) cannot leak into the file.
#[test]
fn bytes_are_identical_across_processes() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        sample().write_parquet(Path::new(&path)).unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().join("here.parquet");
    sample().write_parquet(&here).unwrap();
    for child in ["child1.parquet", "child2.parquet"] {
        let path = dir.path().join(child);
        let child_run = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "bytes_are_identical_across_processes",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .output()
            .unwrap();
        assert!(child_run.status.success(), "{child_run:?}");
        assert_eq!(
            fs::read(&path).unwrap(),
            fs::read(&here).unwrap(),
            "{child}"
        );
    }
}

#[test]
fn unreadable_files_are_reported_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.parquet");
    fs::write(&path, b"not parquet at all").unwrap();
    let err = Table::read_parquet(&path).unwrap_err();
    assert!(matches!(err, TableError::Parquet { .. }), "{err}");
    assert!(err.to_string().contains("junk.parquet"));

    let err = Table::read_parquet(&dir.path().join("absent.parquet")).unwrap_err();
    assert!(matches!(err, TableError::Io { .. }), "{err}");
    assert!(err.to_string().contains("absent.parquet"));
}
