//! The scale a pipeline runs at.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How much work a run does: `smoke` for CI and quick checks, `paper` for the
/// paper's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// A few hundred examples per run, from the committed data subsets: seconds.
    Smoke,
    /// The paper's protocol (supp. 7.5): hours.
    Paper,
}

impl Scale {
    /// `smoke` or `paper`, as the command line and the pipeline files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Smoke => "smoke",
            Scale::Paper => "paper",
        }
    }

    /// The scale named `s`, if any.
    pub fn parse(s: &str) -> Option<Scale> {
        match s {
            "smoke" => Some(Scale::Smoke),
            "paper" => Some(Scale::Paper),
            _ => None,
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
