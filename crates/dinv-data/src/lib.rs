//! # dinv-data: the datasets the experiments train on
//!
//! MNIST and Fashion-MNIST from their IDX files (raw or gzip), validated byte for byte
//! and checked against known SHA-256 sums, plus the preprocessing of supp. 7.5.4–7.5.5
//! (centering and scaling fitted on the training split, one-hot labels) into dense
//! `f64` matrices with one example per column.
//!
//! ## Where the files are looked for
//! A data root holds one folder per dataset (`mnist/`, `fashion-mnist/`), each holding
//! the four IDX files. [`locate::DataDirs::from_env`] searches, in order:
//! 1. `$DINV_DATA_DIR`, if set and non-empty;
//! 2. `./data` under the current directory;
//! 3. `<workspace>/data`, the workspace this crate was built in, if it is another folder.
//!
//! [`locate::DataDirs::new`] takes an explicit list instead (a `--data-dir` flag, tests).
//! For each file, `<name>.gz` is tried before `<name>`; whether a file is compressed is
//! decided by its first bytes, not its name. The not-found error lists every folder tried.
//!
//! **Invariant:** images stay `u8` until [`preprocess`] turns them into `f64`, so that a
//! training loop can convert one mini-batch at a time.
//! **Invariant:** no panic on any file content; every error names the file, what was
//! expected, what was found and what to do.

pub mod error;
pub mod fetch;
pub mod idx;
pub mod locate;
pub mod mnist;
pub mod preprocess;
pub mod subset;
pub mod synthetic;
