//! Typed stage identity: where a stage sits in a pipeline, so that tools read its
//! pipeline, run, seed, step and model as fields instead of parsing the id string.

use std::fmt;

/// A stage's place in a pipeline. Its text form (`Display`), the stage id used for
/// the cache, `--only` patterns and the seed derivation, is
/// `pipeline[/run][/s<seed>]/step[/item]`, e.g. `fig3_linear/fixed_lr/s2/train/BP`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StageId {
    /// The pipeline's name (`[pipeline] name`).
    pub pipeline: String,
    /// The training protocol, for pipelines with several (`fixed_lr`, …).
    pub run: Option<String>,
    /// The replicate's master seed.
    pub seed: Option<u64>,
    /// What the stage does within its replicate: `data`, `train`, `analysis`, `summary`, …
    pub step: String,
    /// What the step is applied to, usually a model's name.
    pub item: Option<String>,
}

impl StageId {
    /// The stage `step` of pipeline `pipeline`, outside any run or replicate.
    pub fn new(pipeline: impl Into<String>, step: impl Into<String>) -> Self {
        StageId {
            pipeline: pipeline.into(),
            run: None,
            seed: None,
            step: step.into(),
            item: None,
        }
    }

    /// The same stage within training protocol `run`.
    pub fn in_run(mut self, run: impl Into<String>) -> Self {
        self.run = Some(run.into());
        self
    }

    /// The same stage within the replicate of master seed `seed`.
    pub fn for_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The same step for `item` (a model).
    pub fn of(mut self, item: impl Into<String>) -> Self {
        self.item = Some(item.into());
        self
    }

    /// The stage of step `step` (no item) in the same pipeline, run and replicate.
    pub fn sibling(&self, step: impl Into<String>) -> Self {
        StageId {
            step: step.into(),
            item: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pipeline)?;
        if let Some(run) = &self.run {
            write!(f, "/{run}")?;
        }
        if let Some(seed) = self.seed {
            write!(f, "/s{seed}")?;
        }
        write!(f, "/{}", self.step)?;
        if let Some(item) = &self.item {
            write!(f, "/{item}")?;
        }
        Ok(())
    }
}

impl From<StageId> for String {
    fn from(id: StageId) -> String {
        id.to_string()
    }
}

impl From<&StageId> for String {
    fn from(id: &StageId) -> String {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::StageId;

    #[test]
    fn text_form_has_every_part_in_order() {
        let id = StageId::new("fig3_linear", "train")
            .in_run("fixed_lr")
            .for_seed(2)
            .of("DI-Tr-0.01");
        assert_eq!(id.to_string(), "fig3_linear/fixed_lr/s2/train/DI-Tr-0.01");
        assert_eq!(
            id.sibling("analysis").to_string(),
            "fig3_linear/fixed_lr/s2/analysis"
        );
        assert_eq!(StageId::new("p", "summary").to_string(), "p/summary");
        assert_eq!(
            StageId::new("p", "data").for_seed(0).to_string(),
            "p/s0/data"
        );
    }
}
