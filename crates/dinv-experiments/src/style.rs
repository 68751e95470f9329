//! One look per model across every figure of the report.
//!
//! A model's colour says which *variant* it is (its feedback initialisation and leak
//! α, and whether DI's steady state is gated by g′ afterwards), its dash and marker say
//! which *method* computes the error signal. The mapping is a fixed table, not an
//! order of appearance, so "Tr, α = 0.001" is the same red in Fig. 3a–f, 3g–k and the
//! extensions. Markers are spaced with a phase per method, so that NDI and DI curves
//! that coincide (as they do at α = 0.01) both stay visible.

use dinv_core::{FeedbackInit, Method};
use dinv_figures::{LineStyle, Marker, Rgb, Series};

use crate::spec::ModelSpec;

/// How one model is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelStyle {
    pub color: Rgb,
    pub line: LineStyle,
    pub marker: Marker,
    /// Where along the curve the markers start, in [0, 1).
    pub phase: f64,
}

impl ModelStyle {
    /// `series` drawn in this style.
    pub fn apply(&self, series: Series) -> Series {
        series
            .with_style(self.line)
            .with_marker(self.marker, 4)
            .with_marker_spacing(0, self.phase)
    }
}

/// Colours of the inversion variants, keyed by (feedback kind, α): the same in every
/// pipeline. Variants not listed take the extra colours in order of α.
const VARIANT_COLOURS: &[(&str, f64, Rgb)] = &[
    ("tr", 0.0, Rgb(31, 120, 180)),       // blue
    ("tr", 0.001, Rgb(227, 26, 28)),      // red
    ("tr", 0.01, Rgb(204, 150, 0)),       // gold
    ("r", 0.01, Rgb(106, 61, 154)),       // purple
    ("tr-gated", 0.01, Rgb(255, 127, 0)), // orange
    ("tr", 0.0001, Rgb(0, 160, 160)),     // teal
    ("tr", 0.1, Rgb(140, 86, 40)),        // brown
    ("tr", 0.00001, Rgb(231, 41, 138)),   // pink
    ("tr", 1.0, Rgb(90, 90, 200)),        // slate
];

const EXTRA_COLOURS: &[Rgb] = &[
    Rgb(23, 190, 207),
    Rgb(188, 189, 34),
    Rgb(148, 103, 189),
    Rgb(140, 140, 60),
];

/// The family key of a model's feedback initialisation.
fn feedback_kind(f: Option<&FeedbackInit>) -> &'static str {
    match f {
        Some(FeedbackInit::NegTranspose) | Some(FeedbackInit::ScaledNegTranspose { .. }) => "tr",
        Some(FeedbackInit::Stabilised { .. }) => "r",
        Some(FeedbackInit::Uniform { .. }) => "u",
        None => "",
    }
}

/// The style of `m`.
pub fn model_style(m: &ModelSpec) -> ModelStyle {
    let mut variant_phase = 0.0;
    let (color, line, marker, phase) = match m.method {
        Method::Bp => (Rgb(0, 0, 0), LineStyle::Solid, Marker::None, 0.0),
        Method::Fa => {
            // FA with the autoencoder script's small feedback U(±0.01) apart from the
            // usual U(±0.5).
            let small = matches!(m.feedback, Some(FeedbackInit::Uniform { half_width }) if half_width < 0.1);
            let grey = if small {
                Rgb(95, 95, 95)
            } else {
                Rgb(155, 155, 155)
            };
            (grey, LineStyle::Solid, Marker::Plus, 0.5)
        }
        Method::Pbp => (Rgb(51, 160, 44), LineStyle::Solid, Marker::Diamond, 0.25),
        // FA's siblings beyond the paper: FA's marker in colours of their own.
        Method::SignSymmetry => (Rgb(166, 86, 40), LineStyle::Dashed, Marker::Plus, 0.15),
        Method::Dfa => (Rgb(152, 78, 163), LineStyle::Dotted, Marker::Plus, 0.85),
        Method::Ndi | Method::Di | Method::Sdi => {
            let mut kind = feedback_kind(m.feedback.as_ref()).to_string();
            if m.di.is_some_and(|d| d.gprime_after) {
                kind.push_str("-gated");
            }
            let listed = VARIANT_COLOURS.iter().position(|(k, a, _)| {
                *k == kind && (*a - m.alpha).abs() <= 1e-12 * a.abs().max(1.0)
            });
            // Two variants of one method share dash and marker: their markers start at
            // different points (golden-ratio steps), so coinciding curves both show.
            variant_phase = listed.map_or(0.5, |i| (i as f64 * 0.618_034).fract());
            let color = listed.map(|i| VARIANT_COLOURS[i].2).unwrap_or_else(|| {
                // A stable pick for unlisted variants: by α's decade.
                let decade = if m.alpha > 0.0 {
                    (-m.alpha.log10()).round().max(0.0) as usize
                } else {
                    0
                };
                EXTRA_COLOURS[decade % EXTRA_COLOURS.len()]
            });
            match m.method {
                Method::Ndi => (color, LineStyle::Dashed, Marker::Square, 0.0),
                Method::Sdi => (color, LineStyle::Dotted, Marker::TriangleUp, 0.66),
                _ => (color, LineStyle::Solid, Marker::Circle, 0.33),
            }
        }
    };
    // Variants of a method beyond feedback and α: a solver other than the steady state
    // (the paper's finite simulation) and a larger initial scale keep the colour and
    // change the marker, so they read as "the same model, computed differently".
    let finite =
        m.di.is_some_and(|d| d.solver == dinv_core::Solver::Euler && m.method.is_dynamic());
    // Initial scales below 5 (e.g. ×3) dotted with triangles up, larger ones dashed with
    // triangles down, so two scales of one model tell apart.
    let (line, marker) = match (finite, m.init_scale) {
        (true, _) => (line, Marker::Cross),
        (_, Some(k)) if k < 5.0 => (LineStyle::Dotted, Marker::TriangleUp),
        (_, Some(_)) => (LineStyle::Dashed, Marker::TriangleDown),
        _ => (line, marker),
    };
    ModelStyle {
        color,
        line,
        marker,
        phase: (phase + variant_phase).fract(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(method: Method, alpha: f64, feedback: Option<FeedbackInit>) -> ModelSpec {
        ModelSpec {
            name: "m".into(),
            label: "m".into(),
            method,
            alpha,
            feedback,
            di: None,
            init_scale: None,
        }
    }

    /// A variant's colour does not depend on which other models a pipeline has or
    /// their order: that was how red came to mean two different models in Fig. 3.
    #[test]
    fn colour_is_a_function_of_the_variant_alone() {
        let tr = Some(FeedbackInit::NegTranspose);
        let a = model_style(&model(Method::Di, 0.001, tr.clone()));
        let b = model_style(&model(Method::Ndi, 0.001, tr.clone()));
        let c = model_style(&model(Method::Di, 0.01, tr.clone()));
        assert_eq!(a.color, b.color);
        assert_ne!(a.color, c.color);
        // Same colour, told apart by dash, marker and marker phase.
        assert_ne!((a.line, a.marker), (b.line, b.marker));
        assert_ne!(a.phase, b.phase);
        let gated = ModelSpec {
            di: Some(dinv_core::DiSettings {
                gprime_after: true,
                ..Default::default()
            }),
            ..model(Method::Di, 0.01, tr)
        };
        assert_ne!(model_style(&gated).color, c.color);
    }

    /// Two variants of one method (same dash and marker) start their markers at
    /// different points, so that curves lying on top of each other both show: NDI α = 0
    /// was hidden under NDI α = 0.01 in the Fashion-MNIST figure.
    #[test]
    fn variants_of_one_method_have_distinct_marker_phases() {
        let tr = Some(FeedbackInit::NegTranspose);
        let mut phases: Vec<f64> = [0.0, 0.001, 0.01, 0.0001, 0.1]
            .iter()
            .map(|&a| model_style(&model(Method::Ndi, a, tr.clone())).phase)
            .collect();
        phases.sort_by(f64::total_cmp);
        assert!(phases.windows(2).all(|w| w[1] - w[0] > 0.05), "{phases:?}");
    }
}
