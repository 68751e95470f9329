//! Where each stage of a graph stands against the cache, without running anything:
//! cached, missing, or stale, and for a stale stage why (which code version,
//! parameter, seed or input changed since its last cache entry was made).

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::cache::{self, Lookup, Manifest, MANIFEST};
use crate::graph::{Graph, GraphError};
use crate::id::StageId;

/// A stage's standing.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheState {
    /// A verified entry holds the stage's outputs for its current key.
    Cached,
    /// No entry was ever made for this stage id.
    Missing,
    /// Entries exist for this stage id, but none for its current key: the reasons
    /// compare the current stage with the most recent of them.
    Stale(Vec<String>),
    /// The entry for the current key fails verification (it will be recomputed).
    Corrupt(String),
}

impl CacheState {
    /// One word for the state: `cached`, `missing`, `stale` or `corrupt`.
    pub fn word(&self) -> &'static str {
        match self {
            CacheState::Cached => "cached",
            CacheState::Missing => "missing",
            CacheState::Stale(_) => "stale",
            CacheState::Corrupt(_) => "corrupt",
        }
    }
}

/// One stage of a status report.
#[derive(Clone, Debug)]
pub struct StageState {
    /// The stage's id.
    pub id: String,
    /// Its typed parts, when it has them.
    pub place: Option<StageId>,
    /// The stage's kind.
    pub kind: String,
    /// The stage's current cache key.
    pub key: String,
    /// Where it stands.
    pub state: CacheState,
}

/// The standing of every stage of `graph` (in graph order) in the cache at `root`.
/// `keys` are the stages' current keys by id.
pub(crate) fn status(
    root: &Path,
    graph: &Graph,
    keys: &HashMap<String, String>,
) -> Result<Vec<StageState>, GraphError> {
    let mut previous: HashMap<String, Vec<Manifest>> = HashMap::new();
    let mut read_kinds: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for s in graph.stages() {
        let key = &keys[&s.id];
        let kind_dir = root.join(&s.kind);
        let state = match cache::lookup(&kind_dir.join(key), &s.kind, key) {
            Lookup::Valid(_) => CacheState::Cached,
            Lookup::Corrupt(reason) => CacheState::Corrupt(reason),
            Lookup::Missing => {
                if !read_kinds.contains(&s.kind.as_str()) {
                    read_kinds.push(&s.kind);
                    for m in manifests(&kind_dir) {
                        previous.entry(m.id.clone()).or_default().push(m);
                    }
                }
                match previous.get(&s.id).and_then(|ms| newest(ms)) {
                    None => CacheState::Missing,
                    Some(old) => CacheState::Stale(reasons(old, s, keys)),
                }
            }
        };
        out.push(StageState {
            id: s.id.clone(),
            place: s.place.clone(),
            kind: s.kind.clone(),
            key: key.clone(),
            state,
        });
    }
    Ok(out)
}

/// The readable manifests of the finished entries of one kind's directory.
fn manifests(kind_dir: &Path) -> Vec<Manifest> {
    let Ok(entries) = fs::read_dir(kind_dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        if !path.is_dir() || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let modified = fs::metadata(path.join(MANIFEST)).and_then(|m| m.modified());
        if let (Ok(text), Ok(modified)) = (fs::read_to_string(path.join(MANIFEST)), modified) {
            if let Ok(mut m) = serde_json::from_str::<Manifest>(&text) {
                m.modified = Some(modified);
                out.push(m);
            }
        }
    }
    out
}

/// The most recently written of several entries (ties broken by key, for determinism).
fn newest(ms: &[Manifest]) -> Option<&Manifest> {
    ms.iter()
        .max_by(|a, b| a.modified.cmp(&b.modified).then_with(|| a.key.cmp(&b.key)))
}

/// Why the stage `s` no longer matches its entry `old`.
fn reasons(old: &Manifest, s: &crate::StageSpec, keys: &HashMap<String, String>) -> Vec<String> {
    let mut why = Vec::new();
    if old.kind_version != s.kind_version {
        why.push(format!(
            "code version of `{}` changed: {} → {}",
            s.kind, old.kind_version, s.kind_version
        ));
    }
    let mut paths = Vec::new();
    diff_paths(&old.params, &s.params, String::new(), &mut paths);
    const SHOWN: usize = 6;
    for p in paths.iter().take(SHOWN) {
        why.push(format!("parameter `{}` changed: {}", p.0, p.1));
    }
    if paths.len() > SHOWN {
        why.push(format!("… and {} more parameters", paths.len() - SHOWN));
    }
    let seed = crate::derive_seed(s.master_seed, &s.id);
    if old.seed != seed {
        why.push(format!("seed changed: {} → {seed}", old.seed));
    }
    let old_inputs: HashMap<&str, &str> = old
        .inputs
        .iter()
        .map(|i| (i.id.as_str(), i.key.as_str()))
        .collect();
    for input in &s.inputs {
        match old_inputs.get(input.as_str()) {
            None => why.push(format!("new input `{input}`")),
            Some(k) if *k != keys[input].as_str() => {
                why.push(format!("input `{input}` changed"));
            }
            Some(_) => {}
        }
    }
    for old_id in old.inputs.iter().map(|i| &i.id) {
        if !s.inputs.contains(old_id) {
            why.push(format!("input `{old_id}` no longer read"));
        }
    }
    if why.is_empty() {
        // Same fields, different key: the cache format or the order of inputs changed.
        why.push("the key derivation or the order of the inputs changed".into());
    }
    why
}

/// JSON pointer-like paths (`a.b[2]`) where `old` and `new` differ, with both values.
fn diff_paths(old: &Value, new: &Value, at: String, out: &mut Vec<(String, String)>) {
    let show = |v: Option<&Value>| match v {
        None => "absent".to_string(),
        Some(v) => {
            let t = v.to_string();
            if t.chars().count() > 40 {
                format!("{}…", t.chars().take(40).collect::<String>())
            } else {
                t
            }
        }
    };
    let join = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for k in names {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_paths(x, y, join(k), out),
                    (x, y) => out.push((join(k), format!("{} → {}", show(x), show(y)))),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_paths(x, y, format!("{at}[{i}]"), out);
            }
        }
        (a, b) if a != b => {
            let name = if at.is_empty() {
                "(all)".to_string()
            } else {
                at
            };
            out.push((name, format!("{} → {}", show(Some(a)), show(Some(b)))));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::diff_paths;
    use serde_json::json;

    #[test]
    fn diff_names_each_changed_leaf() {
        let mut out = Vec::new();
        diff_paths(
            &json!({"a": 1, "b": {"c": [1, 2], "d": "x"}, "e": true}),
            &json!({"a": 1, "b": {"c": [1, 3], "d": "x"}, "f": 0}),
            String::new(),
            &mut out,
        );
        let paths: Vec<&str> = out.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(paths, ["b.c[1]", "e", "f"]);
        assert_eq!(out[0].1, "2 → 3");
        assert_eq!(out[1].1, "true → absent");
    }
}
