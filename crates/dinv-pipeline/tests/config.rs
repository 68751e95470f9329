//! Config errors point at file, line and key; canonical JSON is canonical.

use std::fs;
use std::path::Path;

use dinv_pipeline::{canonical_json, load_toml, parse_toml, ConfigError};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Pipeline {
    name: String,
    seed: u64,
    train: Train,
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Train {
    lr: f64,
    steps: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Layer {
    size: usize,
}

fn load_text(text: &str) -> (String, Result<Pipeline, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fig3_linear.toml");
    fs::write(&path, text).unwrap();
    let result = load_toml::<Pipeline>(&path);
    let msg = match &result {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    (msg, result)
}

const GOOD: &str = r#"name = "fig3"
seed = 7

[train]
lr = 0.01
steps = 100

[[layers]]
size = 30

[[layers]]
size = 20
"#;

#[test]
fn a_valid_file_loads() {
    let (_, result) = load_text(GOOD);
    let p = result.unwrap();
    assert_eq!(p.train.lr, 0.01);
    assert_eq!(p.layers[1].size, 20);
}

#[test]
fn wrong_type_names_file_key_and_line() {
    let (msg, result) = load_text(&GOOD.replace("lr = 0.01", "lr = \"fast\""));
    let Err(ConfigError::Invalid(invalid)) = result else {
        panic!("expected an invalid-config error: {msg}");
    };
    assert_eq!(invalid.line, Some(5));
    assert_eq!(invalid.column, Some(6));
    assert_eq!(invalid.key.as_deref(), Some("train.lr"));
    assert!(invalid.path.ends_with("fig3_linear.toml"));
    assert!(msg.contains("fig3_linear.toml:5:"), "{msg}");
    assert!(msg.contains("`train.lr`"), "{msg}");
    assert!(msg.contains("expected f64"), "{msg}");
}

#[test]
fn wrong_type_inside_an_array_of_tables_names_the_element() {
    let (msg, _) = load_text(&GOOD.replace("size = 20", "size = -3"));
    assert!(msg.contains("fig3_linear.toml:12:"), "{msg}");
    assert!(msg.contains("`layers[1].size`"), "{msg}");
}

#[test]
fn malformed_toml_names_file_key_and_line() {
    let (msg, result) = load_text(&GOOD.replace("steps = 100", "steps = 100 200"));
    assert!(
        matches!(&result, Err(ConfigError::Invalid(i)) if i.line == Some(6)),
        "{msg}"
    );
    assert!(msg.contains("fig3_linear.toml:6:"), "{msg}");
    assert!(msg.contains("`train.steps`"), "{msg}");

    let (msg, _) = load_text(&GOOD.replace("name = \"fig3\"", "name = \"fig3"));
    assert!(msg.contains("fig3_linear.toml:1:"), "{msg}");
    assert!(msg.contains("`name`"), "{msg}");
}

#[test]
fn unknown_and_missing_fields_are_errors() {
    let (msg, _) = load_text(&GOOD.replace("steps = 100", "steps = 100\nsteps_typo = 1"));
    assert!(msg.contains("steps_typo"), "{msg}");
    assert!(msg.contains("fig3_linear.toml:7:"), "{msg}");

    let (msg, _) = load_text(&GOOD.replace("steps = 100\n", ""));
    assert!(msg.contains("missing field `steps`"), "{msg}");
    assert!(msg.contains("fig3_linear.toml"), "{msg}");
}

#[test]
fn unreadable_file_names_the_path() {
    let err = load_toml::<Pipeline>(Path::new("/nonexistent/dir/p.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/dir/p.toml"));
}

#[test]
fn parse_toml_uses_the_given_source_name() {
    let err = parse_toml::<Train>("lr = 1.0\nsteps = 1.5\n", Path::new("inline")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("inline:2:"), "{msg}");
    assert!(msg.contains("`steps`"), "{msg}");
}

#[test]
fn canonical_json_sorts_keys_and_prints_shortest_floats() {
    let mut a = serde_json::Map::new();
    a.insert("z".into(), json!(1));
    a.insert(
        "a".into(),
        json!({"y": [1.0, 0.1, 1e-7, -0.0], "b": "q\"uote"}),
    );
    let mut b = serde_json::Map::new();
    b.insert(
        "a".into(),
        json!({"b": "q\"uote", "y": [1.0, 0.1, 1e-7, -0.0]}),
    );
    b.insert("z".into(), json!(1));
    let (a, b) = (serde_json::Value::Object(a), serde_json::Value::Object(b));
    let expected = r#"{"a":{"b":"q\"uote","y":[1.0,0.1,1e-7,-0.0]},"z":1}"#;
    assert_eq!(canonical_json(&a), expected);
    assert_eq!(canonical_json(&b), expected);
    assert_eq!(canonical_json(&json!(u64::MAX)), "18446744073709551615");
    assert_eq!(canonical_json(&json!(null)), "null");
    assert_ne!(canonical_json(&json!(1)), canonical_json(&json!(1.0)));
}
