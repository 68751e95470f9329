//! Where dataset files are looked for.
//!
//! A *data root* is a folder holding one sub-folder per dataset (`mnist/`,
//! `fashion-mnist/`). [`DataDirs::from_env`] yields, in order: `$DINV_DATA_DIR` (if set
//! and non-empty), `./data` under the current directory, `<workspace>/data` (the
//! workspace this crate was compiled in), and last `/usr/share/datasets`, where Debian's
//! dataset packages install (`apt install dataset-fashion-mnist` puts Fashion-MNIST in
//! `/usr/share/datasets/fashion-mnist/`; left out when `$DINV_NO_SYSTEM_DATA` is `1`),
//! skipping a root that is the same folder as an earlier one. [`DataDirs::new`] takes an explicit list instead (tests, `--data-dir`).
//! Each file is looked up on its own: the first root holding `<name>.gz` or `<name>`
//! (in that order) wins.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// Environment variable naming a data root; checked first by [`DataDirs::from_env`].
pub const ENV_VAR: &str = "DINV_DATA_DIR";

/// Where Debian's dataset packages (`dataset-fashion-mnist`) install; searched last.
pub const SYSTEM_DATASETS: &str = "/usr/share/datasets";

/// Set to `1` to leave [`SYSTEM_DATASETS`] out of the search order, e.g. to check on a
/// machine with Debian's package installed what a machine without it does.
pub const NO_SYSTEM_ENV_VAR: &str = "DINV_NO_SYSTEM_DATA";

/// Why a root is on the list; shown in the not-found message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootOrigin {
    /// Given explicitly to [`DataDirs::new`].
    Explicit,
    /// `$DINV_DATA_DIR`.
    EnvVar,
    /// `./data` under the current directory.
    CurrentDir,
    /// `data/` in the workspace this crate was compiled in.
    Workspace,
    /// [`SYSTEM_DATASETS`], filled by Debian's dataset packages.
    System,
}

impl fmt::Display for RootOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RootOrigin::Explicit => "given data folder",
            RootOrigin::EnvVar => "from $DINV_DATA_DIR",
            RootOrigin::CurrentDir => "./data",
            RootOrigin::Workspace => "workspace data/",
            RootOrigin::System => "Debian's dataset packages",
        })
    }
}

/// One candidate data root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRoot {
    pub path: PathBuf,
    pub origin: RootOrigin,
}

/// What `$DINV_DATA_DIR` looked like when the list was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EnvStatus {
    NotConsulted,
    Unset,
    Empty,
    Set,
}

/// The ordered list of data roots to search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDirs {
    roots: Vec<DataRoot>,
    env: EnvStatus,
}

impl DataDirs {
    /// The default search order: `$DINV_DATA_DIR`, `./data`, `<workspace>/data`,
    /// `/usr/share/datasets` (unless `$DINV_NO_SYSTEM_DATA` is `1`).
    pub fn from_env() -> Self {
        let cwd = std::env::current_dir().ok();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let no_system = std::env::var(NO_SYSTEM_ENV_VAR).is_ok_and(|v| v == "1");
        Self::from_parts(
            std::env::var_os(ENV_VAR),
            cwd,
            workspace,
            (!no_system).then(|| PathBuf::from(SYSTEM_DATASETS)),
        )
    }

    /// Exactly these roots, in this order (for tests and a `--data-dir` flag).
    pub fn new<I, P>(roots: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        DataDirs {
            roots: roots
                .into_iter()
                .map(|p| DataRoot {
                    path: p.into(),
                    origin: RootOrigin::Explicit,
                })
                .collect(),
            env: EnvStatus::NotConsulted,
        }
    }

    /// [`DataDirs::from_env`] with its inputs made explicit, so that it can be tested
    /// without touching the process environment.
    fn from_parts(
        env: Option<OsString>,
        cwd: Option<PathBuf>,
        workspace: Option<PathBuf>,
        system: Option<PathBuf>,
    ) -> Self {
        let mut dirs = DataDirs {
            roots: Vec::new(),
            env: EnvStatus::Unset,
        };
        match env {
            Some(v) if v.is_empty() => dirs.env = EnvStatus::Empty,
            Some(v) => {
                dirs.env = EnvStatus::Set;
                let path = PathBuf::from(v);
                let path = match &cwd {
                    Some(cwd) if path.is_relative() => cwd.join(path),
                    _ => path,
                };
                dirs.push(path, RootOrigin::EnvVar);
            }
            None => {}
        }
        let local = cwd.map_or_else(|| PathBuf::from("data"), |d| d.join("data"));
        dirs.push(local, RootOrigin::CurrentDir);
        if let Some(ws) = workspace {
            dirs.push(ws.join("data"), RootOrigin::Workspace);
        }
        if let Some(system) = system {
            dirs.push(system, RootOrigin::System);
        }
        dirs
    }

    fn push(&mut self, path: PathBuf, origin: RootOrigin) {
        if !self.roots.iter().any(|r| same_folder(&r.path, &path)) {
            self.roots.push(DataRoot { path, origin });
        }
    }

    /// The roots in search order.
    pub fn roots(&self) -> &[DataRoot] {
        &self.roots
    }

    /// Finds `<root>/<dataset_dir>/<file>.gz` or `<root>/<dataset_dir>/<file>` in the
    /// first root that has either. `dataset` is the human name used in the error.
    pub fn find(&self, dataset: &str, dataset_dir: &str, file: &str) -> Result<PathBuf, DataError> {
        for root in &self.roots {
            let dir = root.path.join(dataset_dir);
            for candidate in [dir.join(format!("{file}.gz")), dir.join(file)] {
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
        Err(self.not_found(dataset, dataset_dir, file))
    }

    fn not_found(&self, dataset: &str, dataset_dir: &str, file: &str) -> DataError {
        let mut looked = Vec::new();
        match self.env {
            EnvStatus::Unset => looked.push(format!(
                "$DINV_DATA_DIR/{dataset_dir} (DINV_DATA_DIR unset)"
            )),
            EnvStatus::Empty => looked.push(format!(
                "$DINV_DATA_DIR/{dataset_dir} (DINV_DATA_DIR empty)"
            )),
            EnvStatus::Set | EnvStatus::NotConsulted => {}
        }
        for root in &self.roots {
            let dir = root.path.join(dataset_dir);
            let missing = if dir.is_dir() {
                ""
            } else {
                ", folder does not exist"
            };
            looked.push(format!("{} ({}{missing})", dir.display(), root.origin));
        }
        let hint = match self.env {
            EnvStatus::NotConsulted => format!(
                "Point the data folder at the directory that contains {dataset_dir}/ with the IDX files (gzip or raw)."
            ),
            _ => format!(
                "Set DINV_DATA_DIR to the folder that contains {dataset_dir}/, or copy the IDX files into ./data/{dataset_dir}/."
            ),
        };
        let hint = match self.roots.iter().find(|r| r.origin == RootOrigin::System) {
            Some(root) if dataset_dir == "fashion-mnist" => format!(
                "{hint} On Debian, `apt install dataset-fashion-mnist` installs it in {}/fashion-mnist/.",
                root.path.display()
            ),
            _ => hint,
        };
        DataError::NotFound {
            dataset: dataset.to_owned(),
            file: file.to_owned(),
            looked,
            hint,
        }
    }
}

/// Same folder on disk if both exist, otherwise the same path as written.
fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(d: &DataDirs) -> Vec<(PathBuf, RootOrigin)> {
        d.roots()
            .iter()
            .map(|r| (r.path.clone(), r.origin))
            .collect()
    }

    #[test]
    fn env_var_comes_first_then_cwd_then_workspace() {
        let d = DataDirs::from_parts(
            Some("/srv/shared".into()),
            Some("/home/u/run".into()),
            Some("/nonexistent/ws".into()),
            Some("/nonexistent/datasets".into()),
        );
        assert_eq!(
            paths(&d),
            vec![
                ("/srv/shared".into(), RootOrigin::EnvVar),
                ("/home/u/run/data".into(), RootOrigin::CurrentDir),
                ("/nonexistent/ws/data".into(), RootOrigin::Workspace),
                ("/nonexistent/datasets".into(), RootOrigin::System),
            ]
        );
        // Only Fashion-MNIST, which Debian packages, gets the apt hint.
        let fashion = d
            .find("Fashion-MNIST", "fashion-mnist", "t10k-labels-idx1-ubyte")
            .unwrap_err()
            .to_string();
        assert!(
            fashion.contains("apt install dataset-fashion-mnist"),
            "{fashion}"
        );
        assert!(
            fashion.contains("/nonexistent/datasets/fashion-mnist"),
            "{fashion}"
        );
        let mnist = d
            .find("MNIST", "mnist", "t10k-labels-idx1-ubyte")
            .unwrap_err()
            .to_string();
        assert!(!mnist.contains("apt install"), "{mnist}");
    }

    #[test]
    fn empty_env_var_is_ignored_and_reported() {
        let d = DataDirs::from_parts(Some("".into()), Some("/a".into()), None, None);
        assert_eq!(paths(&d), vec![("/a/data".into(), RootOrigin::CurrentDir)]);
        let msg = d
            .find("MNIST", "mnist", "x-idx1-ubyte")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("DINV_DATA_DIR empty"), "{msg}");
    }

    #[test]
    fn relative_env_var_is_resolved_against_cwd() {
        let d = DataDirs::from_parts(Some("rel".into()), Some("/a".into()), None, None);
        assert_eq!(d.roots()[0].path, PathBuf::from("/a/rel"));
    }

    #[test]
    fn workspace_equal_to_cwd_is_listed_once() {
        let d = DataDirs::from_parts(None, Some("/w".into()), Some("/w".into()), None);
        assert_eq!(paths(&d), vec![("/w/data".into(), RootOrigin::CurrentDir)]);
        let msg = d
            .find("MNIST", "mnist", "t10k-labels-idx1-ubyte")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("DINV_DATA_DIR unset"), "{msg}");
        assert!(msg.contains("/w/data/mnist"), "{msg}");
        assert!(msg.contains("Set DINV_DATA_DIR"), "{msg}");
    }
}
