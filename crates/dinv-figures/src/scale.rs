//! Axis arithmetic: mapping data onto an axis, fitting a range, choosing ticks.
//!
//! Panels are drawn on plain linear coordinates in *axis space*: the value itself on a
//! linear axis, its base-10 logarithm on a log axis. Ticks and their labels are chosen
//! here, so both scales share one drawing path.

use crate::model::Scale;

/// A labelled tick at `pos` (axis space).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tick {
    pub pos: f64,
    pub label: String,
}

/// Labelled ticks plus unlabelled minor grid positions, all in axis space.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Ticks {
    pub major: Vec<Tick>,
    pub minor: Vec<f64>,
}

impl Ticks {
    /// The label of the major tick at `pos` (plotters asks by position).
    pub fn label_at(&self, pos: f64) -> String {
        self.major
            .iter()
            .min_by(|a, b| (a.pos - pos).abs().total_cmp(&(b.pos - pos).abs()))
            .map(|t| t.label.clone())
            .unwrap_or_default()
    }

    pub fn positions(&self) -> Vec<f64> {
        self.major.iter().map(|t| t.pos).collect()
    }
}

/// Axis-space value of a data value, or `None` if it cannot be shown on this scale.
pub(crate) fn to_axis(scale: Scale, v: f64) -> Option<f64> {
    match scale {
        Scale::Linear => v.is_finite().then_some(v),
        Scale::Log10 => (v.is_finite() && v > 0.0).then(|| v.log10()),
    }
}

/// The axis-space range: the fixed one if given (already validated), else the span of
/// the finite axis-space `values` widened by 5 % on each side.
pub(crate) fn fit_range(
    scale: Scale,
    fixed: Option<(f64, f64)>,
    values: impl IntoIterator<Item = f64>,
) -> (f64, f64) {
    if let Some((lo, hi)) = fixed {
        if let (Some(lo), Some(hi)) = (to_axis(scale, lo), to_axis(scale, hi)) {
            return (lo, hi);
        }
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    if lo == hi {
        let pad = match scale {
            Scale::Log10 => 0.5,
            Scale::Linear if lo == 0.0 => 1.0,
            Scale::Linear => 0.1 * lo.abs(),
        };
        return (lo - pad, hi + pad);
    }
    let margin = 0.05 * (hi - lo);
    (lo - margin, hi + margin)
}

/// About `target` ticks for the axis-space range `(lo, hi)`.
pub(crate) fn ticks(scale: Scale, (lo, hi): (f64, f64), target: usize) -> Ticks {
    let target = target.max(2);
    match scale {
        Scale::Linear => linear_ticks(lo, hi, target),
        Scale::Log10 => log_ticks(lo, hi, target),
    }
}

/// A round step (1, 2 or 5 times a power of ten) giving close to `target` intervals.
fn nice_step(span: f64, target: usize) -> f64 {
    let raw = span / target as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .min_by(|a, b| {
            let miss = |step: f64| (span / step - target as f64).abs();
            miss(*a).total_cmp(&miss(*b))
        })
        .unwrap_or(mag)
}

/// [`nice_step`] for `[lo, hi]`, made finer while it would label fewer than two
/// values (small panels once got a single tick label).
fn nice_step_in(lo: f64, hi: f64, target: usize) -> f64 {
    let mut step = nice_step(hi - lo, target);
    for _ in 0..3 {
        if multiples(lo, hi, step).count() >= 2 {
            break;
        }
        // 20 -> 10 -> 5 -> 2 -> 1: the next smaller round step.
        let mag = 10f64.powf((step.log10() + 1e-9).floor());
        let m = (step / mag).round();
        step = if m >= 5.0 {
            2.0 * mag
        } else if m >= 2.0 {
            mag
        } else {
            0.5 * mag
        };
    }
    step
}

/// Multiples of `step` inside `[lo, hi]`.
fn multiples(lo: f64, hi: f64, step: f64) -> impl Iterator<Item = f64> {
    let k0 = (lo / step - 1e-9).ceil() as i64;
    let k1 = (hi / step + 1e-9).floor() as i64;
    (k0..=k1).map(move |k| k as f64 * step)
}

fn linear_ticks(lo: f64, hi: f64, target: usize) -> Ticks {
    let step = nice_step_in(lo, hi, target);
    let major = multiples(lo, hi, step)
        .map(|v| Tick {
            pos: v,
            label: format_linear(v, step),
        })
        .collect();
    Ticks {
        major,
        minor: Vec::new(),
    }
}

/// A tick label with just enough digits to tell ticks `step` apart.
pub(crate) fn format_linear(v: f64, step: f64) -> String {
    // Tiny values are rounding noise around zero; also avoids printing "-0".
    let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
    let step_exp = (step.log10() + 1e-9).floor() as i32;
    if v.abs() >= 1e5 || step_exp < -3 {
        if v == 0.0 {
            return "0".to_string();
        }
        let v_exp = (v.abs().log10() + 1e-9).floor() as i32;
        let digits = (v_exp - step_exp).max(0) as usize;
        return strip_mantissa_zeros(&format!("{v:.digits$e}"));
    }
    let decimals = (-step_exp).max(0) as usize;
    format!("{v:.decimals$}")
}

/// `1.50e-4` → `1.5e-4`, `1.0e-3` → `1e-3`.
fn strip_mantissa_zeros(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => {
            format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => s.to_string(),
    }
}

/// Mantissa sets for log axes spanning less than a decade, richest first: the first
/// that fits the tick budget is labelled, so values near the ends can be read.
const SUB_DECADE: [&[f64]; 5] = [
    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0],
    &[1.0, 2.0, 3.0, 5.0, 7.0],
    &[1.0, 2.0, 3.0, 5.0],
    &[1.0, 2.0, 5.0],
];

/// Labelled mantissas of a log axis spanning less than a decade, if at least two fit.
fn sub_decade_ticks(lo: f64, hi: f64, target: usize) -> Option<Ticks> {
    let set = SUB_DECADE.iter().find_map(|&set| {
        let n = mantissa_positions(lo, hi, set).count();
        (n >= 2 && n <= target + 1).then_some(set)
    })?;
    let major = mantissa_positions(lo, hi, set)
        .map(|(pos, m, e)| Tick {
            pos,
            label: plain_decimal(m, e),
        })
        .collect();
    const ALL: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let minor = mantissa_positions(lo, hi, ALL)
        .filter(|(_, m, _)| !set.contains(m))
        .map(|(p, _, _)| p)
        .collect();
    Some(Ticks { major, minor })
}

fn log_ticks(lo: f64, hi: f64, target: usize) -> Ticks {
    if hi - lo < 1.0 {
        if let Some(ticks) = sub_decade_ticks(lo, hi, target) {
            return ticks;
        }
    }
    let e0 = (lo - 1e-9).ceil() as i32;
    let e1 = (hi + 1e-9).floor() as i32;
    let decades = e1 - e0 + 1;
    // Up to about two decades, 1-2-5 multiples label the axis more usefully.
    let short = mantissa_positions(lo, hi, &[1.0, 2.0, 5.0]).count();
    let prefer_mantissas = decades < 3 && short >= 2 && short <= target + 2;
    if decades >= 2 && !prefer_mantissas {
        // Decade labels are short, so they may sit closer than linear ones.
        let step = (decades as f64 / (1.5 * target as f64)).ceil().max(1.0) as i32;
        let major: Vec<Tick> = (e0..=e1)
            .filter(|e| e.rem_euclid(step) == 0)
            .map(|e| Tick {
                pos: e as f64,
                label: power_of_ten(e),
            })
            .collect();
        let minor = if step == 1 {
            mantissa_positions(lo, hi, &[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
                .map(|(p, _, _)| p)
                .collect()
        } else {
            (e0..=e1)
                .filter(|e| e.rem_euclid(step) != 0)
                .map(f64::from)
                .collect()
        };
        return Ticks { major, minor };
    }
    // A narrow range: label 1-2-5 multiples instead.
    let major: Vec<Tick> = mantissa_positions(lo, hi, &[1.0, 2.0, 5.0])
        .map(|(pos, m, e)| Tick {
            pos,
            label: plain_decimal(m, e),
        })
        .collect();
    if major.len() >= 2 {
        let minor = mantissa_positions(lo, hi, &[3.0, 4.0, 6.0, 7.0, 8.0, 9.0])
            .map(|(p, _, _)| p)
            .collect();
        return Ticks { major, minor };
    }
    // Even narrower: linear steps in data space, placed logarithmically.
    let (vlo, vhi) = (10f64.powf(lo), 10f64.powf(hi));
    let step = nice_step(vhi - vlo, target);
    let major = multiples(vlo, vhi, step)
        .filter(|v| *v > 0.0)
        .map(|v| Tick {
            pos: v.log10(),
            label: format_linear(v, step),
        })
        .collect();
    Ticks {
        major,
        minor: Vec::new(),
    }
}

/// `(log10(m * 10^e), m, e)` for every mantissa `m` and decade `e` inside `[lo, hi]`.
fn mantissa_positions(
    lo: f64,
    hi: f64,
    mantissas: &'static [f64],
) -> impl Iterator<Item = (f64, f64, i32)> {
    let first = lo.floor() as i32;
    let last = hi.ceil() as i32;
    (first..=last).flat_map(move |e| {
        mantissas.iter().filter_map(move |&m| {
            let pos = m.log10() + f64::from(e);
            (pos >= lo - 1e-9 && pos <= hi + 1e-9).then_some((pos, m, e))
        })
    })
}

/// `10^e` written with Unicode superscripts, e.g. `10⁻³`.
pub(crate) fn power_of_ten(e: i32) -> String {
    let sup = |c: char| match c {
        '-' => '⁻',
        '0' => '⁰',
        '1' => '¹',
        '2' => '²',
        '3' => '³',
        '4' => '⁴',
        '5' => '⁵',
        '6' => '⁶',
        '7' => '⁷',
        '8' => '⁸',
        _ => '⁹',
    };
    let mut s = String::from("10");
    s.extend(e.to_string().chars().map(sup));
    s
}

/// `m * 10^e` (m a small integer) written exactly, without float noise: as a decimal
/// for moderate exponents, else like the decade labels (`2·10⁻⁷`).
fn plain_decimal(m: f64, e: i32) -> String {
    let m = m as i64;
    match e {
        0..=5 => format!("{}", m * 10i64.pow(e as u32)),
        -5..=-1 => format!("0.{}{m}", "0".repeat((-e - 1) as usize)),
        _ if m == 1 => power_of_ten(e),
        _ => format!("{m}·{}", power_of_ten(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(t: &Ticks) -> Vec<&str> {
        t.major.iter().map(|t| t.label.as_str()).collect()
    }

    #[test]
    fn log_axis_skips_unshowable_values() {
        assert_eq!(to_axis(Scale::Log10, 100.0), Some(2.0));
        assert_eq!(to_axis(Scale::Log10, 0.0), None);
        assert_eq!(to_axis(Scale::Log10, -1.0), None);
        assert_eq!(to_axis(Scale::Linear, f64::NAN), None);
        assert_eq!(to_axis(Scale::Linear, -1.0), Some(-1.0));
    }

    #[test]
    fn fitted_range_has_margin_and_ignores_non_finite() {
        let (lo, hi) = fit_range(Scale::Linear, None, [0.0, 10.0, f64::NAN, f64::INFINITY]);
        assert!(
            (lo + 0.5).abs() < 1e-12 && (hi - 10.5).abs() < 1e-12,
            "{lo} {hi}"
        );
        let data = [0.0, -3.0, 1e-3, 1e1].map(|v| to_axis(Scale::Log10, v));
        let (lo, hi) = fit_range(Scale::Log10, None, data.into_iter().flatten());
        assert!(
            (lo + 3.2).abs() < 1e-12 && (hi - 1.2).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(fit_range(Scale::Linear, None, [f64::NAN]), (0.0, 1.0));
        let (lo, hi) = fit_range(Scale::Linear, None, [2.0, 2.0]);
        assert!(
            (lo - 1.8).abs() < 1e-12 && (hi - 2.2).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(fit_range(Scale::Log10, Some((1e-2, 1e2)), []), (-2.0, 2.0));
    }

    #[test]
    fn linear_ticks_are_round() {
        let t = ticks(Scale::Linear, (-0.05, 1.05), 5);
        assert_eq!(labels(&t), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = ticks(Scale::Linear, (-95.0, 95.0), 5);
        assert_eq!(labels(&t), ["-50", "0", "50"]);
        let t = ticks(Scale::Linear, (0.0, 3e-4), 3);
        assert_eq!(labels(&t), ["0", "1e-4", "2e-4", "3e-4"]);
        let t = ticks(Scale::Linear, (-1.2e-3, 0.3e-3), 3);
        assert_eq!(labels(&t), ["-1e-3", "-5e-4", "0"]);
        let t = ticks(Scale::Linear, (0.0, 3e-4), 6);
        assert_eq!(
            labels(&t),
            ["0", "5e-5", "1e-4", "1.5e-4", "2e-4", "2.5e-4", "3e-4"]
        );
    }

    #[test]
    fn small_panels_still_get_two_labels() {
        // A short panel asks for 2 ticks; a 20-step would label only 20 in 9.9..35.
        let t = ticks(Scale::Linear, (9.9, 35.1), 2);
        assert_eq!(labels(&t), ["10", "20", "30"]);
        let t = ticks(Scale::Linear, (0.0, 1.0), 2);
        assert_eq!(labels(&t), ["0.0", "0.5", "1.0"]);
    }

    #[test]
    fn log_ticks_are_powers_of_ten() {
        let t = ticks(Scale::Log10, (-3.2, 1.2), 6);
        assert_eq!(labels(&t), ["10⁻³", "10⁻²", "10⁻¹", "10⁰", "10¹"]);
        assert!(t.minor.contains(&2f64.log10()));
        let t = ticks(Scale::Log10, (-12.0, 0.0), 6);
        assert_eq!(
            labels(&t),
            ["10⁻¹²", "10⁻¹⁰", "10⁻⁸", "10⁻⁶", "10⁻⁴", "10⁻²", "10⁰"]
        );
    }

    #[test]
    fn narrow_log_ranges_still_get_labels() {
        let t = ticks(Scale::Log10, (0.2f64.log10(), 3f64.log10()), 5);
        assert_eq!(labels(&t), ["0.2", "0.5", "1", "2"]);
        let t = ticks(Scale::Log10, (0.0, 30f64.log10()), 5);
        assert_eq!(labels(&t), ["1", "2", "5", "10", "20"]);
        let t = ticks(Scale::Log10, (0.6f64.log10(), 0.9f64.log10()), 4);
        assert!(t.major.len() >= 2, "{t:?}");
    }

    #[test]
    fn sub_decade_log_axes_label_intermediate_values() {
        let r = |a: f64, b: f64| (a.log10(), b.log10());
        // 0.02 to 0.06: every mantissa fits, so the end values carry labels.
        let t = ticks(Scale::Log10, r(0.019, 0.062), 5);
        assert_eq!(labels(&t), ["0.02", "0.03", "0.04", "0.05", "0.06"]);
        // Tighter budgets thin the labels and keep the rest as grid lines.
        let t = ticks(Scale::Log10, r(0.011, 0.095), 4);
        assert_eq!(labels(&t), ["0.02", "0.03", "0.05", "0.07"]);
        let t = ticks(Scale::Log10, r(0.011, 0.095), 2);
        assert_eq!(labels(&t), ["0.02", "0.03", "0.05"]);
        assert!(t.minor.iter().any(|&p| (p - 0.09f64.log10()).abs() < 1e-12));
        // Far from 1 the labels look like the decade labels.
        let t = ticks(Scale::Log10, r(1.5e-7, 6e-7), 5);
        assert_eq!(
            labels(&t),
            ["2·10⁻⁷", "3·10⁻⁷", "4·10⁻⁷", "5·10⁻⁷", "6·10⁻⁷"]
        );
        // Over a decade or more nothing changes.
        let t = ticks(Scale::Log10, r(0.2, 3.0), 5);
        assert_eq!(labels(&t), ["0.2", "0.5", "1", "2"]);
    }

    #[test]
    fn angles_from_tiny_to_right_are_labelled_in_decades() {
        let t = ticks(Scale::Log10, (4e-5f64.log10(), 90f64.log10()), 5);
        assert_eq!(labels(&t), ["10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰", "10¹"]);
        // A small inset gets every other decade.
        let t = ticks(Scale::Log10, (4e-5f64.log10(), 90f64.log10()), 2);
        assert_eq!(labels(&t), ["10⁻⁴", "10⁻²", "10⁰"]);
    }

    #[test]
    fn label_lookup_by_position() {
        let t = ticks(Scale::Log10, (-1.0, 1.0), 5);
        assert_eq!(t.label_at(0.0), "10⁰");
    }
}
