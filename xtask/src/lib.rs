//! The library half of `cargo xtask`: publishing (under a cross-process lock, with
//! atomic writes) and the small decisions of the CLI, kept here so that tests can call
//! them, and start concurrent publishers, without running whole pipelines.

pub mod publish;

/// Which of a run's repaired-problem warnings (`RunReport::warnings`) xtask itself
/// prints after the run. The executor's reporter prints each warning as it happens
/// unless `--quiet`, so printing them again doubled every line; with `--quiet` the
/// reporter is silent and these lines are the only trace of, e.g., a corrupt cache
/// entry that was recomputed.
pub fn warnings_to_repeat(warnings: &[String], quiet: bool) -> &[String] {
    if quiet {
        warnings
    } else {
        &[]
    }
}
