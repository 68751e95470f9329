//! Archives of cache entries: verified entries copied out of a cache into a folder of the
//! same layout (`<kind>/<key>/`), and copied back into another cache. This is how the
//! outputs of long stages travel between machines, or are kept beside the paper's
//! results so that a fresh checkout need not recompute them: an entry is used only where
//! a stage's key matches it, and every entry is verified on the way in and out.

use std::fs;
use std::io;
use std::path::Path;

use crate::cache::{self, Lookup, MANIFEST};

/// What an export or import did.
#[derive(Debug, Default, Clone)]
pub struct ArchiveReport {
    /// Entries copied, as `(kind, key)`.
    pub copied: Vec<(String, String)>,
    /// Entries already present at the destination (left as they were).
    pub present: usize,
    /// Entries that could not be used, with the reason (never copied).
    pub rejected: Vec<String>,
    /// Stages (by id) with no entry to export: not computed yet.
    pub not_cached: Vec<String>,
}

/// Copies the verified entry `src/<kind>/<key>` to `dest_root/<kind>/<key>` through a
/// staging directory and a rename, unless a valid entry is already there.
/// Returns `false` when `src` holds no entry at all.
fn copy_entry(
    src: &Path,
    dest_root: &Path,
    kind: &str,
    key: &str,
    report: &mut ArchiveReport,
) -> io::Result<bool> {
    let kind_dir = dest_root.join(kind);
    let final_dir = kind_dir.join(key);
    if let Lookup::Valid(_) = cache::lookup(&final_dir, kind, key) {
        report.present += 1;
        return Ok(true);
    }
    let manifest = match cache::lookup(src, kind, key) {
        Lookup::Valid(m) => m,
        Lookup::Missing => return Ok(false),
        Lookup::Corrupt(reason) => {
            report
                .rejected
                .push(format!("{kind}/{key}: {reason} (not copied)"));
            return Ok(true);
        }
    };
    // Under the key's lock, as a computation of the stage would be.
    let (_lock, _) = cache::lock_key(&kind_dir, key, || {})?;
    let staging = cache::create_staging(&kind_dir, key)?;
    let copied = (|| -> io::Result<()> {
        fs::copy(src.join(MANIFEST), staging.join(MANIFEST))?;
        for f in &manifest.files {
            fs::copy(src.join(&f.name), staging.join(&f.name))?;
        }
        Ok(())
    })();
    if let Err(e) = copied {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if final_dir.exists() {
        fs::remove_dir_all(&final_dir)?;
    }
    fs::rename(&staging, &final_dir)?;
    // Verified again in place: what the cache now holds is exactly what was archived.
    match cache::lookup(&final_dir, kind, key) {
        Lookup::Valid(_) => report.copied.push((kind.to_string(), key.to_string())),
        other => {
            let reason = match other {
                Lookup::Corrupt(r) => r,
                _ => "vanished".into(),
            };
            let _ = fs::remove_dir_all(&final_dir);
            report
                .rejected
                .push(format!("{kind}/{key}: {reason} after copying"));
        }
    }
    Ok(true)
}

/// Copies the entries `(stage id, kind, key)` of the cache at `cache_root` into `dest`.
pub(crate) fn export(
    cache_root: &Path,
    entries: &[(String, String, String)],
    dest: &Path,
) -> io::Result<ArchiveReport> {
    let mut report = ArchiveReport::default();
    for (id, kind, key) in entries {
        if !copy_entry(
            &cache_root.join(kind).join(key),
            dest,
            kind,
            key,
            &mut report,
        )? {
            report.not_cached.push(id.clone());
        }
    }
    Ok(report)
}

/// Copies every entry of the archive at `src` into the cache at `cache_root`.
pub(crate) fn import(src: &Path, cache_root: &Path) -> io::Result<ArchiveReport> {
    let mut report = ArchiveReport::default();
    let mut kinds: Vec<_> = fs::read_dir(src)?.flatten().map(|e| e.path()).collect();
    kinds.sort();
    for kind_dir in kinds.into_iter().filter(|p| p.is_dir()) {
        let kind = kind_dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut keys: Vec<_> = fs::read_dir(&kind_dir)?
            .flatten()
            .map(|e| e.path())
            .collect();
        keys.sort();
        for entry in keys.into_iter().filter(|p| p.is_dir()) {
            let key = entry.file_name().unwrap().to_string_lossy().into_owned();
            if key.starts_with('.') {
                continue;
            }
            copy_entry(&entry, cache_root, &kind, &key, &mut report)?;
        }
    }
    Ok(report)
}
