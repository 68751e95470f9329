//! Text without markup renders exactly as it did before markup existed: the hashes
//! below were taken from the renderer before subscripts, markers, events, clip marks
//! and insets were added (commit 44ac3ee), on a figure that uses none of them.
//!
//! If plotters, ab_glyph or the embedded fonts are upgraded these hashes change for a
//! reason unrelated to markup; recompute them then (the test prints the new values).

use dinv_figures::{
    palette, render, render_rgb, Axis, Band, Figure, LegendPos, LinePanel, LineStyle, Panel, Series,
};

/// FNV-1a, 64 bit: enough to notice any changed byte.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Labels with underscores, carets and backslashes that are *not* markup (see "Text
/// markup" in the crate documentation), Unicode super/subscripts and Greek.
pub fn plain_text_figure() -> Figure {
    let x: Vec<f64> = (0..60).map(f64::from).collect();
    let curve = |rate: f64| -> Vec<f64> { x.iter().map(|t| (-rate * t).exp() + 1e-3).collect() };
    let labels = [
        "DI (Tr, α=0.001)",
        "fig3_gn_linear",
        "δ_DI vs δ_PBP",
        "2^10 steps",
        "a \\ b",
        "angle B vs −Wᵀ",
    ];
    let series: Vec<Series> = labels
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let s = Series::new(
                *l,
                x.clone(),
                curve(0.02 + 0.01 * k as f64),
                palette::pick(k),
            );
            if k % 2 == 1 {
                s.with_style(LineStyle::Dashed)
            } else {
                s
            }
        })
        .collect();
    let band = Band::new(
        x.clone(),
        curve(0.02).iter().map(|v| v * 0.8).collect(),
        curve(0.02).iter().map(|v| v * 1.2).collect(),
        palette::pick(0),
    );
    let left = LinePanel {
        title: "a: error of x_10 (W_ij)".into(),
        x: Axis::linear("examples_seen"),
        y: Axis::log10("normalised error (e_rms)"),
        series: series.clone(),
        bands: vec![band],
        hlines: vec![(1e-2, LineStyle::Dotted)],
        legend: LegendPos::Best,
        ..LinePanel::default()
    };
    let right = LinePanel {
        title: "f: angle δ_DI vs δ_PBP".into(),
        x: Axis::linear("examples").with_range(0.0, 60.0),
        y: Axis::linear("angle (degrees)").with_range(0.0, 1.2),
        series,
        legend: LegendPos::Outside,
        ..LinePanel::default()
    };
    Figure::new((1, 2), vec![Panel::Lines(left), Panel::Lines(right)])
        .with_title("Fig. 3: plain text, 10⁻³ and σ²")
}

const RGB_HASH: u64 = 0xa2fd_193f_d87c_dd83;
const SVG_HASH: u64 = 0xb077_fa5b_5452_d9f4;

#[test]
fn plain_text_renders_as_before() {
    let fig = plain_text_figure();
    let rgb = fnv(&render_rgb(&fig).unwrap().data);
    let dir = tempfile::tempdir().unwrap();
    let files = render(&fig, &dir.path().join("plain")).unwrap();
    let svg = fnv(&std::fs::read(&files.svg).unwrap());
    if let Ok(keep) = std::env::var("DINV_FIGURES_KEEP") {
        render(&fig, &std::path::Path::new(&keep).join("plain")).unwrap();
    }
    assert_eq!(
        (rgb, svg),
        (RGB_HASH, SVG_HASH),
        "plain text no longer renders as before: RGB hash {rgb:#x}, SVG hash {svg:#x}"
    );
}
