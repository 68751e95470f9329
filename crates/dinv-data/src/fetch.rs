//! Fetching the full datasets from public mirrors, verified before they become visible.
//!
//! Each of a dataset's four gzip files is downloaded from the first mirror that serves
//! it intact ([`DatasetSpec::mirrors`], or the comma-separated base URLs in the
//! dataset's environment variable, e.g. `DINV_MNIST_MIRRORS`), into a hidden temporary
//! file beside its final name. Only after its decompressed content has the known
//! SHA-256 (and the known IDX shape) is it linked under its final name, so the data
//! search order can never pick up a partial or wrong download, and a verified file is
//! never overwritten. Transient failures (timeouts, dropped connections, 5xx) are
//! retried a bounded number of times; a 404 or a wrong checksum moves on to the next
//! mirror at once. When no mirror serves a file, the error lists every mirror with its
//! failure, then the manual routes.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::error::DataError;
use crate::locate::{DataDirs, RootOrigin};
use crate::mnist::{verify_file, DatasetSpec, FileSpec};

/// Timeouts and retries of a fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// To establish the connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// From the request until the response headers arrive.
    pub response_timeout: Duration,
    /// For the whole body of one file.
    pub body_timeout: Duration,
    /// Attempts per mirror when the failure may be transient (timeout, dropped
    /// connection, server error).
    pub attempts: usize,
    /// Pause between two attempts at the same mirror.
    pub retry_pause: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(15),
            response_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(600),
            attempts: 3,
            retry_pause: Duration::from_secs(2),
        }
    }
}

/// What a caller is told while files download (a progress bar, in `cargo xtask`).
pub trait FetchProgress {
    /// A download of `file` from `url` begins; `total` is its size if the server said.
    fn start(&mut self, file: &str, url: &str, total: Option<u64>);
    /// `bytes` more have arrived.
    fn advance(&mut self, bytes: u64);
    /// The download ended (successfully or not).
    fn finish(&mut self);
}

/// Reports nothing.
pub struct NoProgress;

impl FetchProgress for NoProgress {
    fn start(&mut self, _: &str, _: &str, _: Option<u64>) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// A verified copy was already there; nothing was downloaded.
    Present(PathBuf),
    /// Downloaded from `url`, verified, and installed at `path`.
    Fetched {
        path: PathBuf,
        url: String,
        bytes: u64,
        /// A damaged file was there before and has been replaced.
        replaced_damaged: bool,
    },
}

/// One failed try at one mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorFailure {
    pub url: String,
    pub reason: String,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No mirror served the file intact.
    #[error("{}", render_all_failed(dataset, file, tried, env_var.as_deref(), dir))]
    AllMirrorsFailed {
        dataset: String,
        file: String,
        tried: Vec<MirrorFailure>,
        env_var: Option<String>,
        dir: String,
    },
    /// The dataset has no mirrors to fetch from.
    #[error(
        "{dataset} has no download mirrors; install its files by hand into <data root>/{dir}/"
    )]
    NoMirrors { dataset: String, dir: String },
    /// The destination folder cannot be written.
    #[error("cannot write into {}: {error}. Set DINV_DATA_DIR to a writable folder, or pass another destination.", .path.display())]
    Destination { path: PathBuf, error: io::Error },
}

fn render_all_failed(
    dataset: &str,
    file: &str,
    tried: &[MirrorFailure],
    env_var: Option<&str>,
    dir: &str,
) -> String {
    let mut s = format!("could not fetch {dataset} file {file}.gz: no mirror served it intact.");
    for t in tried {
        s.push_str(&format!("\n  - {}: {}", t.url, t.reason));
    }
    s.push_str("\nWhat to do: check the network and retry");
    if let Some(var) = env_var {
        s.push_str(&format!(
            ", or point {var} at other mirrors (comma-separated base URLs holding the four standard .gz files)"
        ));
    }
    s.push_str(&format!(
        "; or copy the four IDX files into a folder `{dir}/` and set DINV_DATA_DIR to the folder that contains it"
    ));
    if dir == "fashion-mnist" {
        s.push_str("; on Debian, `apt install dataset-fashion-mnist` installs them where the search order looks");
    }
    s.push('.');
    s
}

/// The base URLs to try for `spec`: its environment variable's list when set and
/// non-empty, else [`DatasetSpec::mirrors`]. Each ends in `/`.
pub fn mirrors(spec: &DatasetSpec) -> Vec<String> {
    mirrors_given(
        spec,
        spec.mirrors_env.and_then(|var| std::env::var(var).ok()),
    )
}

/// [`mirrors`] with the environment variable's value passed in.
pub fn mirrors_given(spec: &DatasetSpec, env_value: Option<String>) -> Vec<String> {
    let from_env = env_value.filter(|v| !v.trim().is_empty());
    let list: Vec<String> = match from_env {
        Some(v) => v.split(',').map(str::to_owned).collect(),
        None => spec.mirrors.iter().map(|m| (*m).to_owned()).collect(),
    };
    list.into_iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .map(|m| if m.ends_with('/') { m } else { m + "/" })
        .collect()
}

/// Where `fetch` installs datasets by default: `$DINV_DATA_DIR` if set, else the
/// workspace's `data/` (both on the search order, so fetched files are found).
pub fn default_destination(dirs: &DataDirs) -> Option<PathBuf> {
    let roots = dirs.roots();
    roots
        .iter()
        .find(|r| r.origin == RootOrigin::EnvVar)
        .or_else(|| roots.iter().find(|r| r.origin == RootOrigin::Workspace))
        .or_else(|| roots.iter().find(|r| r.origin == RootOrigin::CurrentDir))
        .map(|r| r.path.clone())
}

/// Makes every file of `spec` present and verified under `<root>/<spec.dir>/`,
/// fetching missing or damaged ones from `bases` (usually [`mirrors`]`(spec)`) in order.
pub fn fetch_dataset(
    spec: &DatasetSpec,
    bases: &[String],
    root: &Path,
    opts: &FetchOptions,
    progress: &mut dyn FetchProgress,
) -> Result<Vec<FileOutcome>, FetchError> {
    let dir = root.join(spec.dir);
    fs::create_dir_all(&dir).map_err(|error| FetchError::Destination {
        path: dir.clone(),
        error,
    })?;
    let mut out = Vec::new();
    for file in spec.all_files() {
        out.push(fetch_file(spec, &file, &dir, bases, opts, progress)?);
    }
    Ok(out)
}

fn fetch_file(
    spec: &DatasetSpec,
    file: &FileSpec,
    dir: &Path,
    bases: &[String],
    opts: &FetchOptions,
    progress: &mut dyn FetchProgress,
) -> Result<FileOutcome, FetchError> {
    let gz_name = format!("{}.gz", file.name);
    let target = dir.join(&gz_name);
    let mut replaced_damaged = false;
    for existing in [target.clone(), dir.join(file.name)] {
        if existing.is_file() {
            match verify_file(file, &existing) {
                Ok(_) => return Ok(FileOutcome::Present(existing)),
                Err(_) => replaced_damaged = true,
            }
        }
    }
    if bases.is_empty() {
        return Err(FetchError::NoMirrors {
            dataset: spec.name.to_owned(),
            dir: spec.dir.to_owned(),
        });
    }
    remove_stale_partials(dir, &gz_name);

    let agent = agent(opts);
    let mut tried = Vec::new();
    for base in bases {
        let url = format!("{base}{gz_name}");
        for attempt in 1..=opts.attempts.max(1) {
            let tmp = partial_path(dir, &gz_name);
            let result = download(&agent, &url, &tmp, &gz_name, progress)
                .and_then(|bytes| verified(file, &tmp).map(|()| bytes));
            match result {
                Ok(bytes) => {
                    install(&tmp, &target, file).map_err(|error| FetchError::Destination {
                        path: target.clone(),
                        error,
                    })?;
                    return Ok(FileOutcome::Fetched {
                        path: target,
                        url,
                        bytes,
                        replaced_damaged,
                    });
                }
                Err(failure) => {
                    let _ = fs::remove_file(&tmp);
                    let retry = failure.transient && attempt < opts.attempts;
                    tried.push(MirrorFailure {
                        url: url.clone(),
                        reason: if opts.attempts > 1 {
                            format!("attempt {attempt}: {}", failure.reason)
                        } else {
                            failure.reason
                        },
                    });
                    if !retry {
                        break;
                    }
                    std::thread::sleep(opts.retry_pause);
                }
            }
        }
    }
    Err(FetchError::AllMirrorsFailed {
        dataset: spec.name.to_owned(),
        file: file.name.to_owned(),
        tried,
        env_var: spec.mirrors_env.map(str::to_owned),
        dir: spec.dir.to_owned(),
    })
}

/// A failed attempt; transient ones are worth another try at the same mirror.
struct Failure {
    reason: String,
    transient: bool,
}

impl Failure {
    fn permanent(reason: impl fmt::Display) -> Self {
        Self {
            reason: reason.to_string(),
            transient: false,
        }
    }
    fn transient(reason: impl fmt::Display) -> Self {
        Self {
            reason: reason.to_string(),
            transient: true,
        }
    }
}

fn agent(opts: &FetchOptions) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_recv_response(Some(opts.response_timeout))
        .timeout_recv_body(Some(opts.body_timeout))
        .http_status_as_error(false)
        .user_agent(concat!("dinv-data/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Streams `url` into `tmp`; returns the bytes written.
fn download(
    agent: &ureq::Agent,
    url: &str,
    tmp: &Path,
    name: &str,
    progress: &mut dyn FetchProgress,
) -> Result<u64, Failure> {
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Timeout(t) => Failure::transient(format!("timed out ({t})")),
        ureq::Error::Io(io) => Failure::transient(format!("connection failed: {io}")),
        ureq::Error::HostNotFound => Failure::transient("host not found (no network?)"),
        other => Failure::transient(other),
    })?;
    let status = response.status();
    if !status.is_success() {
        let text = format!("HTTP {status}");
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            Failure::transient(text)
        } else {
            Failure::permanent(text)
        });
    }
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = response.into_body().into_reader();
    let mut out = BufWriter::new(
        File::create(tmp)
            .map_err(|e| Failure::permanent(format!("cannot create {}: {e}", tmp.display())))?,
    );
    progress.start(name, url, total);
    let mut buf = vec![0u8; 1 << 16];
    let mut written = 0u64;
    let result = loop {
        match body.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = out.write_all(&buf[..n]) {
                    break Err(Failure::permanent(format!(
                        "writing {}: {e}",
                        tmp.display()
                    )));
                }
                written += n as u64;
                progress.advance(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                break Err(Failure::transient(format!(
                    "the body broke off after {written} bytes: {e}"
                )))
            }
        }
    };
    progress.finish();
    result?;
    if let Some(total) = total {
        if written != total {
            return Err(Failure::transient(format!(
                "the body ended after {written} of {total} bytes"
            )));
        }
    }
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(|e| Failure::permanent(format!("writing {}: {e}", tmp.display())))?;
    Ok(written)
}

/// The downloaded file decompresses to the known content.
fn verified(file: &FileSpec, tmp: &Path) -> Result<(), Failure> {
    verify_file(file, tmp).map(|_| ()).map_err(|e| match e {
        DataError::ChecksumMismatch {
            expected, actual, ..
        } => Failure::permanent(format!(
            "wrong content: SHA-256 of the decompressed file is {actual}, expected {expected}"
        )),
        other => Failure::permanent(format!("not the expected file: {other}")),
    })
}

/// Gives the verified `tmp` its final name without ever replacing a verified file: a
/// hard link fails if the name exists; then an intact file there (another fetch won the
/// race) is kept, and a damaged one is replaced by a rename.
fn install(tmp: &Path, target: &Path, file: &FileSpec) -> io::Result<()> {
    match fs::hard_link(tmp, target) {
        Ok(()) => fs::remove_file(tmp),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if verify_file(file, target).is_ok() {
                fs::remove_file(tmp)
            } else {
                fs::rename(tmp, target)
            }
        }
        // File systems without hard links: a rename (atomic, but not exclusive).
        Err(_) => fs::rename(tmp, target),
    }
}

/// `.<name>.part-<pid>-<n>`: hidden, and never a name the search order looks for.
fn partial_path(dir: &Path, gz_name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{gz_name}.part-{}-{n}", std::process::id()))
}

/// Leftovers of killed fetches (older than an hour, so a concurrent fetch's file is
/// left alone). They are never read as data either way.
fn remove_stale_partials(dir: &Path, gz_name: &str) {
    let prefix = format!(".{gz_name}.part-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if name.to_string_lossy().starts_with(&prefix) && stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}
