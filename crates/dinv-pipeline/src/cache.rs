//! The content-addressed cache: keys, manifests, verification of entries, staging
//! directories and their atomic promotion. The layout is described in the crate docs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::{canonical_json, pretty_json};
use crate::graph::StageSpec;
use crate::hash::{sha256_file, FieldHasher};

/// Version of the cache key derivation and manifest format. Bumping it invalidates every
/// existing cache entry.
pub const CACHE_FORMAT_VERSION: u32 = 1;

/// File name of the manifest inside each entry.
pub(crate) const MANIFEST: &str = "manifest.json";

const STAGING_PREFIX: &str = ".staging-";

/// Staging directories of dead processes older than this are removed even where process
/// liveness cannot be checked.
const STALE_AGE: Duration = Duration::from_secs(24 * 3600);

/// The cache key of a stage whose seed is `seed` and whose inputs have `input_keys` (in
/// listed order): hex SHA-256 over the length-prefixed fields described in the crate docs.
pub(crate) fn stage_key(spec: &StageSpec, seed: u64, input_keys: &[&str]) -> String {
    key_of(
        &spec.kind,
        spec.kind_version,
        &spec.params,
        seed,
        input_keys,
    )
}

fn key_of(
    kind: &str,
    kind_version: u32,
    params: &serde_json::Value,
    seed: u64,
    input_keys: &[&str],
) -> String {
    let mut h = FieldHasher::new();
    h.field(b"dinv-cache")
        .field(&CACHE_FORMAT_VERSION.to_le_bytes())
        .field(kind.as_bytes())
        .field(&kind_version.to_le_bytes())
        .field(canonical_json(params).as_bytes())
        .field(&seed.to_le_bytes())
        .field(&(input_keys.len() as u64).to_le_bytes());
    for key in input_keys {
        h.field(key.as_bytes());
    }
    h.finish_hex()
}

/// One input as recorded in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ManifestInput {
    pub(crate) id: String,
    pub(crate) key: String,
}

/// One output file as recorded in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ManifestFile {
    pub(crate) name: String,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

/// The `manifest.json` of a cache entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) cache_format: u32,
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) kind_version: u32,
    pub(crate) key: String,
    pub(crate) params: serde_json::Value,
    pub(crate) seed: u64,
    pub(crate) inputs: Vec<ManifestInput>,
    pub(crate) files: Vec<ManifestFile>,
    pub(crate) seconds: f64,
    pub(crate) crate_version: String,
}

impl Manifest {
    pub(crate) fn file_names(&self) -> Vec<String> {
        self.files.iter().map(|f| f.name.clone()).collect()
    }
}

/// What a lookup found.
pub(crate) enum Lookup {
    Missing,
    Valid(Manifest),
    Corrupt(String),
}

/// Checks the entry at `dir` for `kind`/`key`: a hit needs a readable manifest naming this
/// key and kind, and exactly the listed files with their recorded sizes and SHA-256.
pub(crate) fn lookup(dir: &Path, kind: &str, key: &str) -> Lookup {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Missing,
        Err(e) => return Lookup::Corrupt(format!("cannot inspect it: {e}")),
        Ok(m) if !m.is_dir() => return Lookup::Corrupt("it is not a directory".to_string()),
        Ok(_) => {}
    }
    match verify(dir, kind, key) {
        Ok(m) => Lookup::Valid(m),
        Err(reason) => Lookup::Corrupt(reason),
    }
}

fn verify(dir: &Path, kind: &str, key: &str) -> Result<Manifest, String> {
    let text = match fs::read_to_string(dir.join(MANIFEST)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!("{MANIFEST} is missing"))
        }
        Err(e) => return Err(format!("{MANIFEST} is unreadable: {e}")),
    };
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("{MANIFEST} is malformed: {e}"))?;
    if manifest.cache_format != CACHE_FORMAT_VERSION {
        return Err(format!(
            "{MANIFEST} has cache format {}, expected {CACHE_FORMAT_VERSION}",
            manifest.cache_format
        ));
    }
    if manifest.key != key {
        return Err(format!("{MANIFEST} names key {}", manifest.key));
    }
    if manifest.kind != kind {
        return Err(format!("{MANIFEST} names kind `{}`", manifest.kind));
    }
    // The key is a function of the manifest's own fields, so an edited manifest shows.
    let input_keys: Vec<&str> = manifest.inputs.iter().map(|i| i.key.as_str()).collect();
    let recomputed = key_of(
        &manifest.kind,
        manifest.kind_version,
        &manifest.params,
        manifest.seed,
        &input_keys,
    );
    if recomputed != key {
        return Err(format!(
            "{MANIFEST} does not hash to its key (kind version, params, seed or inputs edited)"
        ));
    }
    for f in &manifest.files {
        let path = dir.join(&f.name);
        let (sha256, bytes) = match sha256_file(&path) {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!("file `{}` is missing", f.name))
            }
            Err(e) => return Err(format!("file `{}` is unreadable: {e}", f.name)),
        };
        if bytes != f.bytes {
            return Err(format!(
                "file `{}` has {bytes} bytes, the manifest records {}",
                f.name, f.bytes
            ));
        }
        if sha256 != f.sha256 {
            return Err(format!(
                "file `{}` does not match the SHA-256 in the manifest",
                f.name
            ));
        }
    }
    let listed: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    for name in dir_entries(dir).map_err(|e| format!("cannot list it: {e}"))? {
        if name != MANIFEST && !listed.contains(&name.as_str()) {
            return Err(format!("file `{name}` is not in the manifest"));
        }
    }
    Ok(manifest)
}

fn dir_entries(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates a fresh staging directory for `key` under `kind_dir`.
pub(crate) fn create_staging(kind_dir: &Path, key: &str) -> io::Result<PathBuf> {
    fs::create_dir_all(kind_dir)?;
    loop {
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = kind_dir.join(format!("{STAGING_PREFIX}{key}-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Lists and hashes the files a runner left in `staging`; only plain files are allowed and
/// `manifest.json` is reserved.
pub(crate) fn hash_outputs(staging: &Path) -> Result<Vec<ManifestFile>, String> {
    let mut files = Vec::new();
    let names =
        dir_entries(staging).map_err(|e| format!("cannot list the staging directory: {e}"))?;
    for name in names {
        let path = staging.join(&name);
        let meta =
            fs::symlink_metadata(&path).map_err(|e| format!("cannot inspect `{name}`: {e}"))?;
        if !meta.is_file() {
            return Err(format!(
                "the stage wrote `{name}`, which is not a plain file (outputs must be flat files)"
            ));
        }
        if name == MANIFEST {
            return Err(format!(
                "the stage wrote `{MANIFEST}`, a name reserved for the cache"
            ));
        }
        let (sha256, bytes) =
            sha256_file(&path).map_err(|e| format!("cannot read `{name}`: {e}"))?;
        files.push(ManifestFile {
            name,
            bytes,
            sha256,
        });
    }
    Ok(files)
}

/// Writes the manifest into `staging` and renames `staging` to `final_dir`.
///
/// If `final_dir` already exists (another process or run got there first) it is kept when
/// valid and `replace` is false, and the staging directory is discarded; otherwise it is
/// replaced. Returns the manifest of the entry now at `final_dir`.
pub(crate) fn promote(
    staging: &Path,
    final_dir: &Path,
    manifest: Manifest,
    replace: bool,
) -> Result<Manifest, String> {
    let text = pretty_json(&serde_json::to_value(&manifest).map_err(|e| e.to_string())?);
    fs::write(staging.join(MANIFEST), text).map_err(|e| format!("cannot write {MANIFEST}: {e}"))?;
    if replace && final_dir.exists() {
        fs::remove_dir_all(final_dir)
            .map_err(|e| format!("cannot remove the old entry {}: {e}", final_dir.display()))?;
    }
    if fs::rename(staging, final_dir).is_ok() {
        return Ok(manifest);
    }
    if !replace {
        if let Lookup::Valid(existing) = lookup(final_dir, &manifest.kind, &manifest.key) {
            let _ = fs::remove_dir_all(staging);
            return Ok(existing);
        }
    }
    if final_dir.exists() {
        fs::remove_dir_all(final_dir)
            .map_err(|e| format!("cannot remove the old entry {}: {e}", final_dir.display()))?;
    }
    fs::rename(staging, final_dir).map_err(|e| {
        format!(
            "cannot rename {} to {}: {e}",
            staging.display(),
            final_dir.display()
        )
    })?;
    Ok(manifest)
}

/// Removes the staging directories under `kind_dir` left by processes that no longer run.
/// Returns the directories removed.
pub(crate) fn remove_stale_staging(kind_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(kind_dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(STAGING_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        let stale = match pid {
            Some(pid) if pid == std::process::id() => false,
            Some(pid) => match process_alive(pid) {
                Some(alive) => !alive,
                None => older_than(&entry.path(), STALE_AGE),
            },
            None => older_than(&entry.path(), STALE_AGE),
        };
        if stale && fs::remove_dir_all(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// Whether process `pid` runs, where the platform lets us tell (Linux `/proc`).
fn process_alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        Some(proc.join(pid.to_string()).exists())
    } else {
        None
    }
}

fn older_than(path: &Path, age: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|d| d > age)
}
