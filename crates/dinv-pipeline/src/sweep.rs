//! Parameter sweeps in a pipeline file: a `[sweep]` table whose keys name a field of one
//! `[[model]]` or `[[run]]` entry and whose values list the grid, e.g.
//!
//! ```toml
//! [sweep]
//! "model.DI-Tr.alpha" = [0.1, 0.01, 0.001]
//! "run.fixed_lr.update.learning_rate" = [0.01, 0.001]
//! ```
//!
//! Before the file is deserialised, each swept entry is replaced by one copy per grid
//! point, with the field set to the point's value. Rules (all checked, each error names
//! the sweep key):
//!
//! - A key is `model.<name>.<field path>` or `run.<name>.<field path>`; `<name>` is the
//!   `name` of exactly one entry. The field path may go into inline tables
//!   (`model.FA.feedback.scale`); it need not be written in the base entry, but must be a
//!   field the entry's type knows, with a value of its type.
//! - The values are a non-empty list of numbers, strings or booleans.
//! - Several keys on one entry span their product, keys in the order written.
//! - A copy is named `<name>-<value>` (one `-<value>` per key, e.g. `DI-Tr-0.001`), and
//!   every `{<field path>}` in its strings (e.g. `label = "DI (α={alpha})"`) is replaced
//!   by the value. Values are written as TOML writes them, except floats, which are
//!   written in their shortest decimal form (`1e-4` → `0.0001`).
//! - The copies take the place of the first swept entry of their array, ordered by grid
//!   point and, within a point, by the order of their base entries: two models swept
//!   over the same α grid alternate, as a table of results by α would list them.
//!
//! Each copy is then an ordinary entry, so its stages have readable ids and keys of
//! their own: changing one value recomputes only that value's stages, and every other
//! value's cached outputs stay valid. Network and training parameters are shared by
//! every model of a pipeline and are not swept; sweep a per-model field instead (e.g.
//! `model.X.init_scale`), or write one pipeline per value.

use std::path::Path;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use crate::config::{locate, parse_toml, ConfigError, InvalidConfig};

/// The arrays of tables a sweep can expand, as written in the pipeline file.
const SWEEPABLE: &[&str] = &["model", "run"];

/// Deserialises pipeline TOML `text` as `T`, expanding its `[sweep]` table first (see the
/// module documentation). A file without `[sweep]` is parsed exactly as
/// [`parse_toml`] parses it. Errors name `source`, and the sweep key or the key of the
/// expanded document that is at fault.
pub fn parse_pipeline_toml<T: DeserializeOwned>(
    text: &str,
    source: &Path,
) -> Result<T, ConfigError> {
    let mut doc: Table = parse_toml(text, source)?;
    let Some(sweep) = doc.remove("sweep") else {
        return parse_toml(text, source);
    };
    let err = |line: Option<usize>, key: Option<String>, message: String| {
        ConfigError::Invalid(Box::new(InvalidConfig {
            path: source.to_path_buf(),
            line,
            column: line.map(|_| 1),
            key,
            message,
            snippet: None,
        }))
    };
    // The base document, without the sweep, must itself be valid; its entries are where
    // the file has them, so an error points at the file's line.
    from_table::<T>(&doc, source, "").map_err(|e| match e {
        ConfigError::Invalid(mut inv) => {
            if let Some((line, column, snippet)) = inv.key.as_deref().and_then(|k| locate(text, k))
            {
                (inv.line, inv.column, inv.snippet) = (Some(line), Some(column), Some(snippet));
            }
            ConfigError::Invalid(inv)
        }
        other => other,
    })?;
    let Value::Table(sweep) = sweep else {
        return Err(err(
            None,
            Some("sweep".into()),
            "expected a table `[sweep]` of grid keys".into(),
        ));
    };
    let keys = ordered_keys(text, &sweep);
    let mut grids: Vec<Grid> = Vec::new();
    for (key, line) in &keys {
        let grid = Grid::parse(key, &sweep[key], &doc)
            .map_err(|m| err(*line, Some(format!("sweep.\"{key}\"")), m))?;
        // The field must be one the entry's type knows, with a value of its type.
        let mut probe = doc.clone();
        grid.set(&mut probe, grid.entry, &grid.values[0]);
        from_table::<T>(&probe, source, "").map_err(|e| {
            let why = match e {
                ConfigError::Invalid(inv) => inv.message,
                other => other.to_string(),
            };
            err(
                *line,
                Some(format!("sweep.\"{key}\"")),
                format!(
                    "`{}` of {} `{}` cannot take the value {}: {why}",
                    grid.field.join("."),
                    grid.array,
                    grid.name,
                    grid.values[0]
                ),
            )
        })?;
        grids.push(grid);
    }
    for array in SWEEPABLE {
        let ours: Vec<&Grid> = grids.iter().filter(|g| g.array == *array).collect();
        if !ours.is_empty() {
            expand_array(&mut doc, array, &ours)
                .map_err(|m| err(None, Some((*array).into()), m))?;
        }
    }
    from_table::<T>(
        &doc,
        source,
        "the pipeline as expanded by its [sweep] table",
    )
}

/// Reads `path` and deserialises it with [`parse_pipeline_toml`].
pub fn load_pipeline_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    parse_pipeline_toml(&text, path)
}

/// `T` from a document built in memory. Its errors keep the key path but not the line:
/// lines of the re-written document are not the file's. `what` says which document.
fn from_table<T: DeserializeOwned>(
    doc: &Table,
    source: &Path,
    what: &str,
) -> Result<T, ConfigError> {
    let text = toml::to_string(doc).map_err(|e| {
        ConfigError::Invalid(Box::new(InvalidConfig {
            path: source.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot write {what} as TOML: {e}"),
            snippet: None,
        }))
    })?;
    parse_toml(&text, source).map_err(|e| match e {
        ConfigError::Invalid(mut inv) => {
            inv.line = None;
            inv.column = None;
            inv.snippet = None;
            if !what.is_empty() {
                inv.message = format!("{} (in {what})", inv.message);
            }
            ConfigError::Invalid(inv)
        }
        other => other,
    })
}

/// The sweep's keys in the order written, each with its 1-based line when known.
fn ordered_keys(text: &str, sweep: &Table) -> Vec<(String, Option<usize>)> {
    let (doc, _) = DeTable::parse_recoverable(text);
    let mut found: Vec<(String, usize)> = Vec::new();
    if let Some(DeValue::Table(t)) = doc
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == "sweep")
        .map(|(_, v)| v.get_ref())
    {
        for (k, _) in t.iter() {
            found.push((k.get_ref().to_string(), k.span().start));
        }
    }
    found.sort_by_key(|(_, pos)| *pos);
    let line = |pos: usize| text[..pos.min(text.len())].matches('\n').count() + 1;
    let mut keys: Vec<(String, Option<usize>)> = found
        .into_iter()
        .filter(|(k, _)| sweep.contains_key(k))
        .map(|(k, pos)| (k, Some(line(pos))))
        .collect();
    // Keys the span walk missed (it should miss none) follow in sorted order.
    for k in sweep.keys() {
        if !keys.iter().any(|(have, _)| have == k) {
            keys.push((k.clone(), None));
        }
    }
    keys
}

/// One sweep key: an entry of `array` named `name`, its field path, and the grid.
struct Grid {
    array: String,
    name: String,
    /// Index of the entry in its array.
    entry: usize,
    field: Vec<String>,
    values: Vec<Value>,
}

impl Grid {
    fn parse(key: &str, values: &Value, doc: &Table) -> Result<Grid, String> {
        let parts: Vec<&str> = key.split('.').collect();
        // Entry names may themselves contain dots: the name is the longest prefix after
        // the array that names an entry.
        let expected = format!(
            "expected `<array>.<name>.<field>` with <array> one of {} (network and training parameters are shared by every model and cannot be swept: sweep a per-model field, e.g. `model.<name>.init_scale`, or write one pipeline per value)",
            SWEEPABLE.join(", ")
        );
        let array = parts[0];
        if !SWEEPABLE.contains(&array) || parts.len() < 3 {
            return Err(format!("unknown sweep key `{key}`: {expected}"));
        }
        let entries = match doc.get(array) {
            Some(Value::Array(entries)) => entries,
            _ => {
                return Err(format!(
                    "sweep key `{key}`: the pipeline has no [[{array}]] entries"
                ))
            }
        };
        let name_of = |e: &Value| e.get("name").and_then(Value::as_str).map(str::to_string);
        let names: Vec<String> = entries.iter().filter_map(name_of).collect();
        let split = (2..parts.len())
            .rev()
            .find(|&k| names.iter().any(|n| *n == parts[1..k].join(".")))
            .ok_or_else(|| {
                format!(
                    "sweep key `{key}`: no [[{array}]] is named `{}`; known: {}",
                    parts[1],
                    names.join(", ")
                )
            })?;
        let name = parts[1..split].join(".");
        let field: Vec<String> = parts[split..].iter().map(|s| s.to_string()).collect();
        if field.iter().any(|f| f.is_empty()) || field.first().is_some_and(|f| f == "name") {
            return Err(format!(
                "sweep key `{key}`: expected a field path after the name, other than `name`"
            ));
        }
        let entry = entries
            .iter()
            .position(|e| name_of(e).as_deref() == Some(name.as_str()))
            .unwrap_or(0);
        let list = match values {
            Value::Array(list) if !list.is_empty() => list.clone(),
            Value::Array(_) => {
                return Err(format!(
                    "sweep key `{key}`: the list of values is empty; expected at least one value"
                ))
            }
            other => {
                return Err(format!(
                    "sweep key `{key}`: expected a list of values, found {}",
                    other.type_str()
                ))
            }
        };
        if let Some(bad) = list.iter().find(|v| {
            !matches!(
                v,
                Value::Integer(_) | Value::Float(_) | Value::String(_) | Value::Boolean(_)
            )
        }) {
            return Err(format!(
                "sweep key `{key}`: expected a list of numbers, strings or booleans, found a {}",
                bad.type_str()
            ));
        }
        for (i, v) in list.iter().enumerate() {
            if list[..i].iter().any(|w| display(w) == display(v)) {
                return Err(format!(
                    "sweep key `{key}`: the value {} is listed twice",
                    display(v)
                ));
            }
        }
        Ok(Grid {
            array: array.to_string(),
            name,
            entry,
            field,
            values: list,
        })
    }

    /// Sets this grid's field of entry `entry` of `doc` to `value`.
    fn set(&self, doc: &mut Table, entry: usize, value: &Value) {
        if let Some(Value::Array(entries)) = doc.get_mut(&self.array) {
            if let Some(Value::Table(t)) = entries.get_mut(entry) {
                set_path(t, &self.field, value.clone());
            }
        }
    }
}

fn set_path(table: &mut Table, path: &[String], value: Value) {
    let (last, head) = path.split_last().expect("a field path is never empty");
    let mut t = table;
    for k in head {
        let slot = t
            .entry(k.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !slot.is_table() {
            *slot = Value::Table(Table::new());
        }
        t = slot.as_table_mut().expect("made a table above");
    }
    t.insert(last.clone(), value);
}

/// A grid value as it appears in names and labels.
fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

/// Replaces the swept entries of `array` by their copies (see the module documentation).
fn expand_array(doc: &mut Table, array: &str, grids: &[&Grid]) -> Result<(), String> {
    let Some(Value::Array(entries)) = doc.get(array) else {
        return Ok(());
    };
    let entries = entries.clone();
    let mut swept: Vec<usize> = grids.iter().map(|g| g.entry).collect();
    swept.sort_unstable();
    swept.dedup();
    // Each swept entry's copies, by grid point.
    let mut copies: Vec<Vec<Table>> = Vec::new();
    for &e in &swept {
        let mine: Vec<&&Grid> = grids.iter().filter(|g| g.entry == e).collect();
        let Value::Table(base) = &entries[e] else {
            return Err(format!("[[{array}]] entry {e} is not a table"));
        };
        let name = mine[0].name.clone();
        let mut points: Vec<Vec<&Value>> = vec![Vec::new()];
        for g in &mine {
            points = points
                .into_iter()
                .flat_map(|p| {
                    g.values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push(v);
                        q
                    })
                })
                .collect();
        }
        let mut out = Vec::new();
        for point in points {
            let mut copy = base.clone();
            let mut copy_name = name.clone();
            for (g, v) in mine.iter().zip(&point) {
                set_path(&mut copy, &g.field, (*v).clone());
                copy_name = format!("{copy_name}-{}", display(v));
            }
            let mut value = Value::Table(copy);
            for (g, v) in mine.iter().zip(&point) {
                substitute(
                    &mut value,
                    &format!("{{{}}}", g.field.join(".")),
                    &display(v),
                );
            }
            let Value::Table(mut copy) = value else {
                unreachable!("a table stays a table")
            };
            copy.insert("name".into(), Value::String(copy_name));
            out.push(copy);
        }
        copies.push(out);
    }
    let longest = copies.iter().map(Vec::len).max().unwrap_or(0);
    let mut expanded: Vec<Value> = Vec::new();
    for k in 0..longest {
        for c in &copies {
            if let Some(t) = c.get(k) {
                expanded.push(Value::Table(t.clone()));
            }
        }
    }
    let mut result: Vec<Value> = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        if i == swept[0] {
            result.append(&mut expanded);
        } else if !swept.contains(&i) {
            result.push(e);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in &result {
        if let Some(n) = e.get("name").and_then(Value::as_str) {
            if !seen.insert(n.to_string()) {
                return Err(format!(
                    "after expanding the sweep, two [[{array}]] entries are named `{n}`; rename the base entry or the other one"
                ));
            }
        }
    }
    doc.insert(array.into(), Value::Array(result));
    Ok(())
}

/// Replaces `pattern` by `with` in every string inside `v`.
fn substitute(v: &mut Value, pattern: &str, with: &str) {
    match v {
        Value::String(s) if s.contains(pattern) => *s = s.replace(pattern, with),
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, pattern, with)),
        Value::Table(t) => t.iter_mut().for_each(|(_, i)| substitute(i, pattern, with)),
        _ => {}
    }
}
