//! Claims written as data in a pipeline file (`[[claim]]`), judged from the summary
//! without code of their own: a new pipeline gets verdicts from its TOML alone.
//!
//! ```toml
//! [[claim]]
//! figure = "deep_error"            # the figure (id) or panel key ("3a") it is about
//! claim = "DI ends below BP on the deeper network"
//! run = "fixed_lr"
//! metric = "final_nmse"            # a per-seed summary number
//! models = ["DI-Tr-0.01"]          # what the claim is about
//! relation = "below"               # or "above"
//! than = ["BP", "FA"]              # references (or `value = 1e-3`, a fixed threshold)
//! factor = 1.0                     # optional: below/above factor × reference
//! ```
//!
//! The verdict compares, seed by seed (paired), each model with each reference (or the
//! threshold): **holds** when every comparison does, **does not hold** when none does,
//! **partly** otherwise, **not run** when a number is missing. The report prints the
//! criterion beside the verdict, so a reader can disagree with it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::verdict::{num, Finding, PipelineSummary, Verdict};

/// Which way a claim compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Below,
    Above,
}

/// One claim as written in a pipeline file (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSpec {
    pub figure: String,
    pub claim: String,
    pub run: String,
    pub metric: String,
    pub models: Vec<String>,
    pub relation: Relation,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub than: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
}

impl ClaimSpec {
    /// Checks the claim against the pipeline: known run, figure and models, a metric,
    /// and exactly one of `than` and `value`. Errors name the claim (`claim[i]`) and
    /// the field.
    pub fn validate(
        &self,
        i: usize,
        runs: &[&str],
        models: &[&str],
        figures: &[&str],
    ) -> Result<(), String> {
        let at = |field: &str| format!("claim[{i}].{field}");
        if self.claim.trim().is_empty() {
            return Err(format!(
                "{}: the claim's text must not be empty",
                at("claim")
            ));
        }
        if !runs.contains(&self.run.as_str()) {
            return Err(format!(
                "{} = \"{}\": no such run; known: {}",
                at("run"),
                self.run,
                runs.join(", ")
            ));
        }
        if self.metric.is_empty() {
            return Err(format!("{}: must not be empty", at("metric")));
        }
        let key_like = |f: &str| f.chars().next().is_some_and(|c| c.is_ascii_digit());
        if !figures.contains(&self.figure.as_str()) && !key_like(&self.figure) {
            return Err(format!(
                "{} = \"{}\": expected a figure id of this pipeline ({}) or a panel key such as \"3a\"",
                at("figure"),
                self.figure,
                figures.join(", ")
            ));
        }
        if self.models.is_empty() {
            return Err(format!("{}: name at least one model", at("models")));
        }
        for (field, names) in [("models", &self.models), ("than", &self.than)] {
            if let Some(bad) = names.iter().find(|n| !models.contains(&n.as_str())) {
                return Err(format!(
                    "{}: no model is named `{bad}`; known: {}",
                    at(field),
                    models.join(", ")
                ));
            }
        }
        match (self.than.is_empty(), self.value) {
            (false, Some(_)) | (true, None) => {
                return Err(format!(
                    "claim[{i}]: give exactly one of `than` (reference models) and `value` (a threshold)"
                ))
            }
            (_, Some(v)) if !v.is_finite() => {
                return Err(format!("{}: expected a finite number, found {v}", at("value")))
            }
            _ => {}
        }
        if let Some(f) = self.factor {
            check_positive(&at("factor"), f)?;
        }
        Ok(())
    }

    /// The claim's verdict from a pipeline's summary.
    pub fn judge(&self, s: &PipelineSummary<'_>) -> Finding {
        let factor = self.factor.unwrap_or(1.0);
        let holds = |x: f64, reference: f64| match self.relation {
            Relation::Below => x < factor * reference,
            Relation::Above => x > factor * reference,
        };
        // Every seed, or only the one a seed view shows.
        let seeds: Vec<usize> = match s.seed {
            Some(k) => vec![k],
            None => (0..s.seeds() as usize).collect(),
        };
        let (mut ok, mut total, mut missing) = (0, 0, false);
        for &k in &seeds {
            let at = s.for_seed(k);
            for m in &self.models {
                let Some(x) = at.metric(&self.run, m, &self.metric) else {
                    missing = true;
                    continue;
                };
                let references: Vec<Option<f64>> = match self.value {
                    Some(v) => vec![Some(v)],
                    None => self
                        .than
                        .iter()
                        .map(|r| at.metric(&self.run, r, &self.metric))
                        .collect(),
                };
                for r in references {
                    match r {
                        Some(r) => {
                            total += 1;
                            ok += usize::from(x.is_finite() && r.is_finite() && holds(x, r));
                        }
                        None => missing = true,
                    }
                }
            }
        }
        let verdict = if missing || seeds.is_empty() {
            Verdict::NotRun
        } else {
            Verdict::from_counts(ok, total)
        };
        let show = |names: &[String]| {
            names
                .iter()
                .map(|n| format!("{n} {}", num(s, &self.run, n, &self.metric)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ours = match self.value {
            Some(_) => show(&self.models),
            None => format!("{}; {}", show(&self.models), show(&self.than)),
        };
        let word = match self.relation {
            Relation::Below => "below",
            Relation::Above => "above",
        };
        let scaled = if factor == 1.0 {
            String::new()
        } else {
            format!("{factor} × ")
        };
        let reference = match self.value {
            Some(v) => format!("{scaled}{v}"),
            None => format!("{scaled}that of each of {}", self.than.join(", ")),
        };
        Finding {
            figure: self.figure.clone().into(),
            claim: self.claim.clone().into(),
            ours,
            verdict,
            criterion: format!(
                "`{}` ({}) of each of {} {word} {reference}, seed by seed: {ok} of {total} comparisons (declared in the pipeline file)",
                self.metric,
                self.run,
                self.models.join(", ")
            ),
        }
    }
}

/// Checks every claim of a pipeline (see [`ClaimSpec::validate`]) against its runs,
/// model names and figure ids.
pub fn validate_claims<'a>(
    claims: &[ClaimSpec],
    runs: &[&str],
    models: impl IntoIterator<Item = &'a str>,
    figures: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    let models: Vec<&str> = models.into_iter().collect();
    let figures: Vec<&str> = figures.into_iter().collect();
    let (models, figures) = (models.as_slice(), figures.as_slice());
    claims
        .iter()
        .enumerate()
        .try_for_each(|(i, c)| c.validate(i, runs, models, figures))
}

/// The claims as the summary stage's parameter: absent when there are none, so that
/// pipelines without claims keep their cache keys.
pub fn insert_claims(params: &mut Value, claims: &[ClaimSpec]) {
    if let Some(c) = claims_param(claims) {
        params["claims"] = c;
    }
}

/// The claims as a summary stage's parameter: absent when there are none, so that no
/// other pipeline's key changes.
pub fn claims_param(claims: &[ClaimSpec]) -> Option<Value> {
    (!claims.is_empty()).then(|| serde_json::to_value(claims).unwrap_or_default())
}

/// The verdicts of the claims a summary carries (its `claims`, copied from the
/// pipeline file); a claim that does not parse is reported as not run, with the reason.
pub fn judge_declared(s: &PipelineSummary<'_>) -> Vec<Finding> {
    let Some(list) = s.v.get("claims").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|c| match ClaimSpec::deserialize(c) {
            Ok(spec) => spec.judge(s),
            Err(e) => Finding {
                figure: "".into(),
                claim: c
                    .get("claim")
                    .and_then(Value::as_str)
                    .unwrap_or("(unreadable claim)")
                    .to_string()
                    .into(),
                ours: "–".into(),
                verdict: Verdict::NotRun,
                criterion: format!("the summary's claim does not parse: {e}"),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A two-seed summary: A beats B in seed 0 only; C beats both in both seeds.
    fn summary() -> Value {
        json!({
            "seeds": 2,
            "models": { "A": {}, "B": {}, "C": {} },
            "runs": { "r": {
                "A": { "err": 2.0, "err_sd": 1.0 },
                "B": { "err": 2.0 },
                "C": { "err": 0.5 } } },
            "seed_values": { "r": {
                "A": { "err": [1.0, 3.0] },
                "B": { "err": [2.0, 2.0] },
                "C": { "err": [0.5, 0.5] } } }
        })
    }

    fn claim(models: &[&str], than: &[&str], value: Option<f64>) -> ClaimSpec {
        ClaimSpec {
            figure: "f".into(),
            claim: "c".into(),
            run: "r".into(),
            metric: "err".into(),
            models: models.iter().map(|m| m.to_string()).collect(),
            relation: Relation::Below,
            than: than.iter().map(|m| m.to_string()).collect(),
            value,
            factor: None,
        }
    }

    /// Verdicts worked out by hand from the seed values above.
    #[test]
    fn verdicts_follow_the_paired_seed_comparisons() {
        let v = summary();
        let s = PipelineSummary::new("p", &v);
        assert_eq!(
            claim(&["C"], &["A", "B"], None).judge(&s).verdict,
            Verdict::Holds
        );
        let partly = claim(&["A"], &["B"], None).judge(&s);
        assert_eq!(partly.verdict, Verdict::Partly);
        assert!(partly.criterion.contains("1 of 2"), "{}", partly.criterion);
        assert_eq!(
            claim(&["B"], &["C"], None).judge(&s).verdict,
            Verdict::DoesNotHold
        );
        // Against a threshold, and with a factor: 0.5 < 0.3 × 2 in both seeds, 1 < 0.3 × 2 in neither.
        assert_eq!(
            claim(&["A"], &[], Some(1.5)).judge(&s).verdict,
            Verdict::Partly
        );
        let factor = ClaimSpec {
            factor: Some(0.3),
            ..claim(&["C", "A"], &["B"], None)
        };
        assert_eq!(factor.judge(&s).verdict, Verdict::Partly);
        let above = ClaimSpec {
            relation: Relation::Above,
            ..claim(&["B"], &["C"], None)
        };
        assert_eq!(above.judge(&s).verdict, Verdict::Holds);
        // A metric the summary lacks: not run, never a silent pass.
        let missing = ClaimSpec {
            metric: "nope".into(),
            ..claim(&["C"], &["B"], None)
        };
        assert_eq!(missing.judge(&s).verdict, Verdict::NotRun);
        assert!(partly.ours.contains("A 2.00 ± 1.00"), "{}", partly.ours);
    }

    #[test]
    fn validation_names_the_claim_and_field() {
        let runs = ["r"];
        let models = ["A", "B"];
        let figs = ["f"];
        let check = |c: ClaimSpec| c.validate(3, &runs, &models, &figs).unwrap_err();
        assert!(check(claim(&["A"], &["Z"], None)).contains("claim[3].than: no model is named `Z`"));
        assert!(check(claim(&["A"], &["B"], Some(1.0))).contains("exactly one of"));
        assert!(check(claim(&["A"], &[], None)).contains("exactly one of"));
        assert!(check(ClaimSpec {
            run: "x".into(),
            ..claim(&["A"], &["B"], None)
        })
        .contains("claim[3].run"));
        assert!(check(ClaimSpec {
            figure: "nowhere".into(),
            ..claim(&["A"], &["B"], None)
        })
        .contains("claim[3].figure"));
        assert!(claim(&["A"], &["B"], None)
            .validate(0, &runs, &models, &figs)
            .is_ok());
    }
}

/// `value` must be a positive finite number; the error names `field`.
fn check_positive(field: &str, value: f64) -> Result<(), String> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(format!(
            "{field} = {value}: expected a positive finite number"
        ))
    }
}
