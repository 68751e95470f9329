//! The full datasets for the tests that need them: present, or skipped with a notice,
//! or (under `DINV_REQUIRE_FULL_DATA=1`, as `.ci/run` sets) a failure, so that CI can
//! never skip them silently.
#![allow(dead_code)]

use std::io::Write;

use dinv_data::error::DataError;
use dinv_data::locate::DataDirs;
use dinv_data::mnist::{load, Dataset, DatasetSpec};

/// Set to `1` to make absent full data a test failure instead of a skip.
pub const REQUIRE_ENV: &str = "DINV_REQUIRE_FULL_DATA";

pub fn full_data_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// The full dataset through the default search order; `None` when it is not installed
/// and not required (the notice goes straight to the terminal: the test harness
/// captures only the print macros, and a skip must be seen). Damaged files always fail.
pub fn full_or_skip(spec: &DatasetSpec, test: &str) -> Option<Dataset> {
    match load(spec, &DataDirs::from_env()) {
        Ok(data) => Some(data),
        Err(DataError::NotFound { .. }) if !full_data_required() => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: the full {} is not installed (`cargo xtask data where` shows where it is looked for; `cargo xtask data fetch` installs it). Set {REQUIRE_ENV}=1 to make its absence a failure.",
                spec.name
            );
            None
        }
        Err(err) => panic!(
            "{err}\n({test} needs the full {}; `cargo xtask data fetch` installs it)",
            spec.name
        ),
    }
}
