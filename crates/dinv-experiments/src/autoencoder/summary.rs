//! The pipeline's summary: the across-seed aggregate of the analyses (the shared
//! summary stage, `runs`) with the reference errors of [`super::baselines`] added
//! under `baselines`.

use dinv_pipeline::{Stage, StageContext, StageError};
use serde::Serialize;
use serde_json::Value;

/// The summary stage (no parameters: everything comes from its inputs, the aggregate
/// summary, then the baselines stage).
#[derive(Serialize)]
pub(crate) struct BaselinesSummary;

impl Stage for BaselinesSummary {
    const KIND: &'static str = "autoencoder_summary_baselines";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        summary_stage(ctx)
    }
}

fn summary_stage(ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let [runs, baselines] = ctx.inputs() else {
        return Err(StageError::msg(
            "the autoencoder summary expects the aggregate summary and the baselines",
        ));
    };
    let mut out = runs.json("summary")?;
    let baselines = baselines.json("baselines")?;
    let Value::Object(m) = &mut out else {
        return Err(StageError::msg(format!(
            "{}: summary.json is not an object",
            runs.id()
        )));
    };
    m.insert("baselines".into(), baselines);
    ctx.write_json("summary", &out)?;
    Ok(())
}
