//! The content-addressed cache: keys, manifests, verification of entries, staging
//! directories and their atomic promotion. The layout is described in the crate docs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::{canonical_json, pretty_json};
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
pub(crate) fn stage_key(
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
    /// When the manifest was written (read from the file system, not stored).
    #[serde(skip)]
    pub(crate) modified: Option<std::time::SystemTime>,
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
    let recomputed = stage_key(
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

// ---------------------------------------------------------------------------------------
// Per-key locks: one computation of a stage at a time, across processes.
// ---------------------------------------------------------------------------------------

/// Suffix of a stage key's lock file, `<kind>/<key>.lock`.
const LOCK_SUFFIX: &str = ".lock";

/// Suffix of a stage key's checkpoint, `<kind>/<key>.checkpoint`, and of a checkpoint
/// being written, `<kind>/.staging-<key>-<pid>-<n>.checkpoint`.
const CHECKPOINT_SUFFIX: &str = ".checkpoint";

fn lock_path(kind_dir: &Path, key: &str) -> PathBuf {
    kind_dir.join(format!("{key}{LOCK_SUFFIX}"))
}

/// Where the checkpoint of stage key `key` lives.
pub(crate) fn checkpoint_path(kind_dir: &Path, key: &str) -> PathBuf {
    kind_dir.join(format!("{key}{CHECKPOINT_SUFFIX}"))
}

/// An exclusive advisory lock (`flock` on Unix, `LockFileEx` on Windows, through
/// [`File::lock`](std::fs::File::lock)) on `<kind>/<key>.lock`, held while a process
/// computes that stage: its staging directory, its checkpoint and its promotion. The
/// operating system releases it when the process dies, however it dies.
///
/// On Unix the lock file is removed on release, while still locked; a process that
/// opened the file before it was removed finds, once it holds the lock, that the path no
/// longer names its file, and starts over with a fresh one. So at most one process ever
/// holds a lock *on the file at the path*, and no lock files accumulate.
pub(crate) struct KeyLock {
    file: fs::File,
    path: PathBuf,
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        if cfg!(unix) {
            // Still locked here: `self.file` is closed (and unlocked) after this body.
            let _ = fs::remove_file(&self.path);
        }
        let _ = self.file.unlock();
    }
}

/// Whether `DINV_CACHE_LOCKS=off` turned the locks off (for a shared file system whose
/// locks hang rather than fail, e.g. NFS without a lock daemon): stages then run
/// unlocked, as where the file system has no locks.
fn locks_disabled() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("DINV_CACHE_LOCKS").is_some_and(|v| v == "off"))
}

fn open_lock_file(path: &Path) -> io::Result<fs::File> {
    if locks_disabled() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "locks turned off by DINV_CACHE_LOCKS=off",
        ));
    }
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Whether `path` still names the open `file` (Unix; elsewhere lock files are never
/// removed, so it always does).
#[cfg(unix)]
fn still_at(file: &fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_file: &fs::File, _path: &Path) -> bool {
    true
}

/// Takes the lock of stage key `key` under `kind_dir`, waiting for the process that
/// holds it (after calling `on_wait` once). Returns the lock and whether it had to wait.
/// An error means the file system offers no locks (or the lock file cannot be created):
/// the caller then goes on without one.
pub(crate) fn lock_key(
    kind_dir: &Path,
    key: &str,
    mut on_wait: impl FnMut(),
) -> io::Result<(KeyLock, bool)> {
    fs::create_dir_all(kind_dir)?;
    let path = lock_path(kind_dir, key);
    let mut waited = false;
    loop {
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                if !waited {
                    on_wait();
                    waited = true;
                }
                file.lock()?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        if still_at(&file, &path) {
            return Ok((KeyLock { file, path }, waited));
        }
    }
}

/// Takes the lock of `key` if nobody holds it: `Ok(None)` when a process (this one
/// included) is computing that stage.
pub(crate) fn try_lock_key(kind_dir: &Path, key: &str) -> io::Result<Option<KeyLock>> {
    let path = lock_path(kind_dir, key);
    loop {
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {
                if still_at(&file, &path) {
                    return Ok(Some(KeyLock { file, path }));
                }
            }
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Removes what killed processes left under `kind_dir`: staging directories and
/// half-written checkpoints (`.staging-<key>-<pid>-<n>[.checkpoint]`) of stages nobody
/// is computing, checkpoints of stages whose entry exists, and lock files nobody holds.
/// Returns the staging directories and checkpoints removed.
///
/// "Nobody is computing it" means that the stage key's lock is free: every process
/// creates a staging directory only while holding that lock, whichever host it runs on,
/// so a directory of a live computation is never removed (a process id says nothing
/// about processes on other hosts sharing the cache, and may have been reused). This
/// process's own directories are always kept. Where the file system has no locks,
/// only leftovers older than a day are removed.
pub(crate) fn remove_stale_staging(kind_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(kind_dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut removed = Vec::new();
    for name in names {
        let path = kind_dir.join(&name);
        if let Some(rest) = name.strip_prefix(STAGING_PREFIX) {
            let mut parts = rest.split('-');
            let key = parts.next().unwrap_or_default();
            let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
            if key.is_empty() || pid == Some(std::process::id()) {
                continue;
            }
            let stale = match try_lock_key(kind_dir, key) {
                // Removed while the lock is held, so that nobody starts on it meanwhile.
                Ok(Some(_lock)) => remove_any(&path),
                Ok(None) => false,
                Err(_) => older_than(&path, STALE_AGE) && remove_any(&path),
            };
            if stale {
                removed.push(path);
            }
        } else if let Some(key) = name.strip_suffix(CHECKPOINT_SUFFIX) {
            // Killed between promoting the entry and removing the checkpoint.
            if kind_dir.join(key).is_dir() {
                if let Ok(Some(_lock)) = try_lock_key(kind_dir, key) {
                    if remove_any(&path) {
                        removed.push(path);
                    }
                }
            }
        } else if let Some(key) = name.strip_suffix(LOCK_SUFFIX) {
            // Dropping a lock nobody else holds removes its file.
            drop(try_lock_key(kind_dir, key));
        }
    }
    removed
}

fn remove_any(path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).is_ok(),
        Ok(_) => fs::remove_file(path).is_ok(),
        Err(_) => false,
    }
}

fn older_than(path: &Path, age: Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|d| d > age)
}

// ---------------------------------------------------------------------------------------
// Checkpoints: a stage's state part-way, to resume an interrupted computation.
// ---------------------------------------------------------------------------------------

const CHECKPOINT_MAGIC: &[u8; 8] = b"DINVCKPT";
const CHECKPOINT_FORMAT: u32 = 1;
/// Magic, format, header length, SHA-256 trailer.
const CHECKPOINT_OVERHEAD: usize = 8 + 4 + 8 + 32;

/// The JSON header of a checkpoint file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointHeader {
    key: String,
    id: String,
    kind: String,
    /// Name and length of each array, in file order.
    arrays: Vec<(String, u64)>,
    state: serde_json::Value,
}

/// A checkpoint as read back: the stage's JSON state and its named `f64` arrays.
pub(crate) struct StoredCheckpoint {
    pub(crate) state: serde_json::Value,
    pub(crate) arrays: Vec<(String, Vec<f64>)>,
}

/// Writes the checkpoint of stage `key` atomically: one file, `<kind>/<key>.checkpoint`,
/// holding `CHECKPOINT_MAGIC`, the format (u32 LE), the header length (u64 LE), the JSON
/// header (key, id, kind, array names and lengths, the state), each array's values as
/// little-endian `f64` (bit for bit, NaN payloads included), and the SHA-256 of all
/// that. It is written under a `.staging-` name, flushed to disk, and renamed over the
/// previous checkpoint, so a kill or a crash at any moment leaves the previous or the
/// new checkpoint whole. Returns the file's size in bytes.
pub(crate) fn write_checkpoint(
    kind_dir: &Path,
    key: &str,
    id: &str,
    kind: &str,
    state: serde_json::Value,
    arrays: &[(&str, &[f64])],
) -> io::Result<u64> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let header = serde_json::to_vec(&CheckpointHeader {
        key: key.to_string(),
        id: id.to_string(),
        kind: kind.to_string(),
        arrays: arrays
            .iter()
            .map(|(name, v)| (name.to_string(), v.len() as u64))
            .collect(),
        state,
    })
    .map_err(io::Error::other)?;
    let values: usize = arrays.iter().map(|(_, v)| v.len()).sum();
    let mut bytes = Vec::with_capacity(CHECKPOINT_OVERHEAD + header.len() + 8 * values);
    bytes.extend_from_slice(CHECKPOINT_MAGIC);
    bytes.extend_from_slice(&CHECKPOINT_FORMAT.to_le_bytes());
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    for (_, v) in arrays {
        for x in *v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);

    fs::create_dir_all(kind_dir)?;
    let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = kind_dir.join(format!(
        "{STAGING_PREFIX}{key}-{}-{n}{CHECKPOINT_SUFFIX}",
        std::process::id()
    ));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, checkpoint_path(kind_dir, key))?;
        sync_dir(kind_dir);
        Ok(bytes.len() as u64)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename in `dir` durable where the platform allows (Unix).
fn sync_dir(dir: &Path) {
    if cfg!(unix) {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Reads the checkpoint of stage `key`: `Ok(None)` if there is none, `Err(reason)` if
/// the file is not a whole, valid checkpoint of this key.
pub(crate) fn read_checkpoint(
    kind_dir: &Path,
    key: &str,
) -> Result<Option<StoredCheckpoint>, String> {
    use sha2::{Digest, Sha256};
    let bytes = match fs::read(checkpoint_path(kind_dir, key)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    if bytes.len() < CHECKPOINT_OVERHEAD || &bytes[..8] != CHECKPOINT_MAGIC {
        return Err("not a dinv checkpoint".to_string());
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err("truncated or damaged (SHA-256 mismatch)".to_string());
    }
    let format = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes"));
    if format != CHECKPOINT_FORMAT {
        return Err(format!(
            "checkpoint format {format}, this build reads {CHECKPOINT_FORMAT}"
        ));
    }
    let header_len = u64::from_le_bytes(body[12..20].try_into().expect("8 bytes"));
    let rest = &body[20..];
    let header_len = usize::try_from(header_len)
        .ok()
        .filter(|&n| n <= rest.len())
        .ok_or("header length beyond the end of the file")?;
    let header: CheckpointHeader = serde_json::from_slice(&rest[..header_len])
        .map_err(|e| format!("malformed header: {e}"))?;
    if header.key != key {
        return Err(format!("written for stage key {}", header.key));
    }
    let mut data = &rest[header_len..];
    let mut arrays = Vec::with_capacity(header.arrays.len());
    for (name, len) in header.arrays {
        let bytes_needed = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_mul(8))
            .filter(|&n| n <= data.len())
            .ok_or_else(|| format!("array `{name}` runs beyond the end of the file"))?;
        let (these, after) = data.split_at(bytes_needed);
        arrays.push((
            name,
            these
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ));
        data = after;
    }
    if !data.is_empty() {
        return Err(format!("{} bytes after the last array", data.len()));
    }
    Ok(Some(StoredCheckpoint {
        state: header.state,
        arrays,
    }))
}

/// Removes the checkpoint of stage `key`, if any.
pub(crate) fn remove_checkpoint(kind_dir: &Path, key: &str) -> io::Result<()> {
    match fs::remove_file(checkpoint_path(kind_dir, key)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_keeps_its_staging_directory_whatever_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let kind = dir.path().join("train");
        // A staging directory whose process id means nothing here (another host's, or
        // one beyond Linux's pid limit), of a stage being computed: its key is locked.
        let (lock, waited) = lock_key(&kind, "k1", || {}).unwrap();
        assert!(!waited);
        let live = kind.join(".staging-k1-4294967-0");
        fs::create_dir_all(&live).unwrap();
        let half = kind.join(".staging-k1-4294967-1.checkpoint");
        fs::write(&half, "half").unwrap();
        assert!(remove_stale_staging(&kind).is_empty());
        assert!(live.exists() && half.exists());
        assert!(
            try_lock_key(&kind, "k1").unwrap().is_none(),
            "lock not exclusive"
        );
        drop(lock);
        assert!(!lock_path(&kind, "k1").exists(), "lock file left behind");
        assert_eq!(
            remove_stale_staging(&kind),
            vec![live.clone(), half.clone()]
        );
        assert!(!live.exists() && !half.exists());
        assert!(!lock_path(&kind, "k1").exists());
    }

    #[test]
    fn a_waiter_takes_over_after_the_holder_removed_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let kind = dir.path().join("k");
        let (first, _) = lock_key(&kind, "key", || {}).unwrap();
        let waiting = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                let (second, waited) =
                    lock_key(&kind, "key", || waiting.store(true, Ordering::SeqCst)).unwrap();
                assert!(waited);
                assert!(still_at(&second.file, &lock_path(&kind, "key")));
                // A third party cannot take it while the waiter holds it.
                assert!(try_lock_key(&kind, "key").unwrap().is_none());
            });
            while !waiting.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50));
            drop(first);
            t.join().unwrap();
        });
        assert!(!lock_path(&kind, "key").exists());
    }

    #[test]
    fn checkpoints_round_trip_bit_for_bit_and_reject_damage() {
        let dir = tempfile::tempdir().unwrap();
        let kind = dir.path().join("k");
        assert!(read_checkpoint(&kind, "key").unwrap().is_none());
        let odd = [
            0.1,
            -0.0,
            f64::NAN,
            f64::from_bits(0x7ff8_dead_beef_0001),
            f64::INFINITY,
            5e-324,
            f64::MAX,
        ];
        let state = serde_json::json!({"step": 42, "x": 0.1 + 0.2, "tiny": 1e-310});
        write_checkpoint(
            &kind,
            "key",
            "a/b",
            "k",
            state.clone(),
            &[("odd", &odd), ("empty", &[])],
        )
        .unwrap();
        let c = read_checkpoint(&kind, "key").unwrap().unwrap();
        assert_eq!(c.state, state);
        assert_eq!(
            c.state["x"].as_f64().unwrap().to_bits(),
            (0.1f64 + 0.2).to_bits()
        );
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(c.arrays[0].0, "odd");
        assert_eq!(bits(&c.arrays[0].1), bits(&odd));
        assert!(c.arrays[1].1.is_empty());
        // No temporary file is left beside it.
        let names: Vec<String> = fs::read_dir(&kind)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["key.checkpoint"]);

        // Another key's checkpoint is never taken for this one.
        fs::copy(
            checkpoint_path(&kind, "key"),
            checkpoint_path(&kind, "other"),
        )
        .unwrap();
        let err = read_checkpoint(&kind, "other").err().unwrap();
        assert!(err.contains("written for stage key key"), "{err}");

        let path = checkpoint_path(&kind, "key");
        let good = fs::read(&path).unwrap();
        for damage in [
            good[..good.len() / 2].to_vec(),
            good[..10].to_vec(),
            Vec::new(),
            {
                let mut b = good.clone();
                b[40] ^= 1;
                b
            },
            b"not a checkpoint at all, but long enough to be read as one...".to_vec(),
        ] {
            fs::write(&path, &damage).unwrap();
            assert!(read_checkpoint(&kind, "key").is_err());
        }
        remove_checkpoint(&kind, "key").unwrap();
        remove_checkpoint(&kind, "key").unwrap();
        assert!(!path.exists());
    }
}
