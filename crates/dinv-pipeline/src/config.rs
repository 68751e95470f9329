//! Loading TOML configuration with errors that point at the file, line and key, and the
//! canonical JSON form of parameters used for hashing.

use std::fmt;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A configuration file could not be read or does not describe the expected type.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("could not read config file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause (already part of the message, so not repeated as `source()`).
        error: std::io::Error,
    },
    /// The file is not valid TOML, or its contents do not fit the expected type.
    #[error("{0}")]
    Invalid(Box<InvalidConfig>),
}

/// Where and why a configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig {
    /// The file (or the source name given to [`parse_toml`]).
    pub path: PathBuf,
    /// 1-based line of the offending text, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending text, when known.
    pub column: Option<usize>,
    /// Dotted path of the offending key, e.g. `train.lr` or `layers[1].size`.
    pub key: Option<String>,
    /// What went wrong and what was expected.
    pub message: String,
    /// The offending line with a caret under the offending text.
    pub snippet: Option<String>,
}

impl fmt::Display for InvalidConfig {
    /// `path:line:column: message (key `a.b`)`, then the snippet on the following lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(k) = &self.key {
            write!(f, " (key `{k}`)")?;
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

/// Reads `path` and deserialises it as `T`.
///
/// Errors carry the file path, the 1-based line and column, the dotted key path of the
/// offending entry and TOML's or serde's description of what was expected. Unknown keys are
/// errors when `T` uses `#[serde(deny_unknown_fields)]`.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    parse_toml(&text, path)
}

/// Deserialises TOML `text` as `T`; `source` names it in errors (see [`load_toml`]).
pub fn parse_toml<T: DeserializeOwned>(text: &str, source: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let span = e.span();
        let (line, column, snippet) = match &span {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                let snippet = snippet(text, line, column, span.len());
                (Some(line), Some(column), Some(snippet))
            }
            None => (None, None, None),
        };
        let key = span.and_then(|span| key_path_at(text, span.start));
        ConfigError::Invalid(Box::new(InvalidConfig {
            path: source.to_path_buf(),
            line,
            column,
            key,
            message: e.message().trim().to_string(),
            snippet,
        }))
    })
}

/// The string at dotted `path` (e.g. `["pipeline", "name"]`) of TOML `text`, read with
/// error recovery: it is found also in a document with syntax errors elsewhere, as long
/// as its own table and line parse. `None` if it is absent or not a string. For cheap
/// probes (which file is which pipeline) before a full, strict load.
pub fn probe_string(text: &str, path: &[&str]) -> Option<String> {
    let (doc, _errors) = DeTable::parse_recoverable(text);
    let (last, tables) = path.split_last()?;
    let mut table = doc.get_ref();
    for key in tables {
        match lookup(table, key)? {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    match lookup(table, last)? {
        DeValue::String(s) => Some(s.to_string()),
        _ => None,
    }
}

fn lookup<'a, 'de>(table: &'a DeTable<'de>, key: &str) -> Option<&'a DeValue<'de>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v.get_ref())
}

/// Where the entry at dotted `key` (as [`InvalidConfig::key`] renders it, e.g.
/// `claim[0].relation`) is written in `text`: its 1-based line and column and the
/// snippet under it. `None` if the text has no such entry.
pub(crate) fn locate(text: &str, key: &str) -> Option<(usize, usize, String)> {
    let (doc, _errors) = DeTable::parse_recoverable(text);
    let mut entries = Vec::new();
    flatten_table(doc.get_ref(), &mut Vec::new(), &mut entries);
    let e = entries.iter().find(|e| render_path(&e.path) == key)?;
    let (line, column) = line_column(text, e.value.start);
    let len = e.value.end.saturating_sub(e.value.start);
    Some((line, column, snippet(text, line, column, len)))
}

/// 1-based (line, column in characters) of byte offset `pos`.
fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let pos = floor_char_boundary(text, pos.min(text.len()));
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..pos].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut pos: usize) -> usize {
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

fn snippet(text: &str, line: usize, column: usize, span_len: usize) -> String {
    let content = text.lines().nth(line - 1).unwrap_or("");
    let gutter = line.to_string().len();
    let room = content.chars().count().saturating_sub(column - 1).max(1);
    let carets = span_len.clamp(1, room);
    format!(
        "{:gutter$} |\n{line} | {content}\n{:gutter$} | {}{}",
        "",
        "",
        " ".repeat(column - 1),
        "^".repeat(carets)
    )
}

/// The dotted path of the key at byte offset `pos`: the deepest entry whose key or value
/// contains it or, failing that (e.g. an unterminated value), the last key that starts
/// before it on the same line. The document is parsed with error recovery, so this also
/// works for malformed TOML.
fn key_path_at(text: &str, pos: usize) -> Option<String> {
    let (doc, _errors) = DeTable::parse_recoverable(text);
    let mut entries = Vec::new();
    flatten_table(doc.get_ref(), &mut Vec::new(), &mut entries);
    let inside = entries
        .iter()
        .filter(|e| contains(&e.key, pos) || contains(&e.value, pos))
        .max_by_key(|e| e.path.len());
    let line_of = |offset: usize| {
        text[..floor_char_boundary(text, offset.min(text.len()))]
            .matches('\n')
            .count()
    };
    let before_on_line = || {
        entries
            .iter()
            .filter(|e| e.key.start <= pos && line_of(e.key.start) == line_of(pos))
            .max_by_key(|e| (e.key.start, e.path.len()))
    };
    inside.or_else(before_on_line).map(|e| render_path(&e.path))
}

#[derive(Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

/// One key (or array element) of a parsed document, with its path and spans. Array
/// elements use their own span as `key`.
struct Entry {
    path: Vec<Segment>,
    key: Range<usize>,
    value: Range<usize>,
}

fn flatten_table(table: &DeTable<'_>, path: &mut Vec<Segment>, out: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        out.push(Entry {
            path: path.clone(),
            key: key.span(),
            value: value.span(),
        });
        flatten_value(value, path, out);
        path.pop();
    }
}

fn flatten_value(value: &Spanned<DeValue<'_>>, path: &mut Vec<Segment>, out: &mut Vec<Entry>) {
    match value.get_ref() {
        DeValue::Table(t) => flatten_table(t, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                out.push(Entry {
                    path: path.clone(),
                    key: item.span(),
                    value: item.span(),
                });
                flatten_value(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn render_path(path: &[Segment]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn contains(span: &Range<usize>, pos: usize) -> bool {
    span.contains(&pos) || (span.is_empty() && span.start == pos)
}

/// The canonical text of a JSON value, used for hashing: object keys sorted (by bytes)
/// at every level, no whitespace, strings escaped as `serde_json` does, integers as
/// integers, and other numbers in Rust's shortest round-trip form (`{:?}` of `f64`, e.g.
/// `0.1`, `1.0`, `1e-7`). An integer `1` and a float `1.0` are therefore different.
pub fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else if let Some(f) = n.as_f64() {
                out.push_str(&format!("{f:?}"));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => push_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(k, out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
    }
}

fn push_json_string(s: &str, out: &mut String) {
    // Serialising a string cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// A copy of `v` whose objects are built in sorted key order, so that pretty-printing it
/// lists keys sorted whether or not `serde_json`'s `preserve_order` feature is enabled.
pub(crate) fn sorted_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Array(items) => Value::Array(items.iter().map(sorted_json).collect()),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_json(v)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// Pretty JSON with sorted keys and a trailing newline: the on-disk form of JSON outputs.
pub(crate) fn pretty_json(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(&sorted_json(v)).unwrap_or_default();
    s.push('\n');
    s
}
