//! The verdict vocabulary: a claim of the paper, our numbers, a verdict and the
//! criterion behind it, and read access to one pipeline's summary. Experiments judge
//! their own claims with these types; the report only renders them.

use serde_json::Value;

/// Whether our numbers support a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    Partly,
    DoesNotHold,
    /// The data cannot decide: e.g. two references the claim is judged against
    /// disagree with each other by more than the effect. The finding says why.
    Inconclusive,
    /// The numbers needed are missing (experiment not run at this scale).
    NotRun,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Partly => "partly",
            Verdict::DoesNotHold => "does not hold",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotRun => "not run",
        }
    }

    /// `Holds` if all, `DoesNotHold` if none, `Partly` otherwise.
    pub fn from_counts(ok: usize, total: usize) -> Verdict {
        match (ok, total) {
            (_, 0) => Verdict::NotRun,
            (k, n) if k == n => Verdict::Holds,
            (0, _) => Verdict::DoesNotHold,
            _ => Verdict::Partly,
        }
    }

    /// For claims about what happens "often": `Holds` when at least half of the
    /// models meet the criterion, `Partly` when some do, `DoesNotHold` when none do.
    pub fn often(ok: usize, total: usize) -> Verdict {
        match (ok, total) {
            (_, 0) => Verdict::NotRun,
            (0, _) => Verdict::DoesNotHold,
            (k, n) if 2 * k >= n => Verdict::Holds,
            _ => Verdict::Partly,
        }
    }
}

/// One claim checked against our numbers.
pub struct Finding {
    pub figure: std::borrow::Cow<'static, str>,
    pub claim: std::borrow::Cow<'static, str>,
    pub ours: String,
    pub verdict: Verdict,
    /// The criterion used, so a reader can disagree with it.
    pub criterion: String,
}

/// Read access to one pipeline's summary.
pub struct PipelineSummary<'a> {
    pub name: &'a str,
    pub v: &'a Value,
    /// When set, [`Self::metric`] reads this seed's value instead of the mean.
    pub seed: Option<usize>,
}

impl<'a> PipelineSummary<'a> {
    pub fn new(name: &'a str, v: &'a Value) -> Self {
        PipelineSummary {
            name,
            v,
            seed: None,
        }
    }

    /// The same summary seen through one seed's values.
    pub fn for_seed(&self, k: usize) -> Self {
        PipelineSummary {
            name: self.name,
            v: self.v,
            seed: Some(k),
        }
    }

    /// Models (name, label) of a method, in summary order.
    pub fn models(&self, methods: &[&str]) -> Vec<(&'a str, &'a str)> {
        let Some(m) = self.v.get("models").and_then(Value::as_object) else {
            return Vec::new();
        };
        // The pipeline's order when recorded (JSON objects are sorted by key).
        let order: Vec<&str> = match self.v.get("model_order").and_then(Value::as_array) {
            Some(o) => o.iter().filter_map(Value::as_str).collect(),
            None => m.keys().map(String::as_str).collect(),
        };
        order
            .into_iter()
            .filter_map(|name| m.get_key_value(name))
            .filter(|(_, meta)| {
                meta.get("method")
                    .and_then(Value::as_str)
                    .is_some_and(|x| methods.contains(&x))
            })
            .map(|(name, meta)| {
                (
                    name.as_str(),
                    meta.get("label").and_then(Value::as_str).unwrap_or(name),
                )
            })
            .collect()
    }

    pub fn alpha(&self, model: &str) -> f64 {
        self.v
            .pointer(&format!("/models/{model}/alpha"))
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    }

    /// A metric's mean over seeds (or one seed's value, see [`Self::for_seed`]).
    pub fn metric(&self, run: &str, model: &str, metric: &str) -> Option<f64> {
        match self.seed {
            None => self
                .v
                .get("runs")?
                .get(run)?
                .get(model)?
                .get(metric)?
                .as_f64(),
            Some(k) => self
                .v
                .get("seed_values")?
                .get(run)?
                .get(model)?
                .get(metric)?
                .get(k)?
                .as_f64(),
        }
    }

    pub fn seeds(&self) -> u64 {
        self.v.get("seeds").and_then(Value::as_u64).unwrap_or(0)
    }
}

/// Formats a number for the report: 3 significant digits, `±sd` when several seeds ran.
pub fn num(s: &PipelineSummary<'_>, run: &str, model: &str, metric: &str) -> String {
    match s.metric(run, model, metric) {
        None => "–".into(),
        Some(v) => {
            let base = sig(v);
            match s.metric(run, model, &format!("{metric}_sd")) {
                Some(sd) => format!("{base} ± {}", sig(sd)),
                None => base,
            }
        }
    }
}

/// Three significant digits.
pub fn sig(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if (-3..4).contains(&mag) {
        let decimals = (2 - mag).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.2e}")
    }
}
