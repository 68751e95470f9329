//! The pipeline's summary: the across-seed aggregate of the analyses (the shared
//! summary stage, `runs`) with the reference errors of [`super::baselines`] added
//! under `baselines`.

use dinv_pipeline::{StageContext, StageError};
use serde_json::Value;

/// Inputs: the aggregate summary, then the baselines stage.
pub(crate) fn summary_stage(ctx: &mut StageContext<'_>) -> Result<(), StageError> {
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
