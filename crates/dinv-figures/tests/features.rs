//! The features of issue 17 ("figures a reader can read"), each checked on a small
//! hand-made figure with the crate's own checking tools or with pixels.
//!
//! Set `DINV_FIGURES_KEEP=<folder>` to also write the figures for viewing.

use std::path::Path;

use dinv_figures::{
    clipped_without_mark, figure_layout, palette, render, render_rgb, series_visibility,
    style_conflicts, Axis, Band, Corner, EntryKind, EventMark, Figure, Inset, LegendPos, LinePanel,
    LineStyle, Marker, Panel, PointSeries, RangeNote, Rgb, RgbImage, Series, SharedLegend,
};

const RED: Rgb = Rgb(220, 0, 0);
const BLUE: Rgb = Rgb(0, 0, 220);
const GREEN: Rgb = Rgb(0, 150, 0);

fn keep(fig: &Figure, name: &str) {
    if let Ok(dir) = std::env::var("DINV_FIGURES_KEEP") {
        render(fig, &Path::new(&dir).join(name)).unwrap();
    }
}

fn one(panel: LinePanel) -> Figure {
    Figure::new((1, 1), vec![Panel::Lines(panel)])
}

fn xs(n: usize, to: f64) -> Vec<f64> {
    (0..n).map(|i| to * i as f64 / (n - 1) as f64).collect()
}

fn decay(x: &[f64]) -> Vec<f64> {
    x.iter().map(|t| 80.0 * (-t / 30.0).exp() + 5.0).collect()
}

/// Two models whose curves are identical, like NDI and DI with the same feedback.
fn twins(markers: bool) -> Figure {
    let x = xs(200, 100.0);
    let y = decay(&x);
    let mut under = Series::new("NDI (Tr, α=0.01)", x.clone(), y.clone(), BLUE);
    let mut over = Series::new("DI (Tr, α=0.01)", x, y, RED);
    if markers {
        under = under
            .with_marker(Marker::Circle, 4)
            .with_marker_spacing(20, 0.0);
        over = over
            .with_marker(Marker::Square, 4)
            .with_marker_spacing(20, 0.5)
            .with_style(LineStyle::Dashed)
            .with_legend_note("identical to NDI (Tr, α=0.01) within 1e-4°");
    }
    one(LinePanel {
        title: "angle δ_{DI} vs δ_{PBP}".into(),
        x: Axis::linear("examples"),
        y: Axis::linear("angle (degrees)"),
        series: vec![under, over],
        legend: LegendPos::UpperRight,
        ..LinePanel::default()
    })
}

fn pixels_of(vis: &[dinv_figures::Visibility], label: &str) -> usize {
    vis.iter().find(|v| v.label == label).unwrap().pixels
}

#[test]
fn identical_curves_are_visible_only_with_markers() {
    let plain = series_visibility(&twins(false)).unwrap();
    assert_eq!(plain.len(), 2);
    assert_eq!(
        pixels_of(&plain, "NDI (Tr, α=0.01)"),
        0,
        "the curve underneath shows: {plain:?}"
    );
    assert!(pixels_of(&plain, "DI (Tr, α=0.01)") > 500, "{plain:?}");

    let marked = series_visibility(&twins(true)).unwrap();
    for v in &marked {
        assert_eq!(v.kind, EntryKind::Series);
        assert!(v.pixels > 150, "{} hardly visible: {marked:?}", v.label);
    }
    keep(&twins(true), "twins");
}

#[test]
fn markers_alternate_by_phase() {
    // Phase 0 and 0.5 with the same spacing: no marker of one sits on the other's.
    let x = xs(101, 100.0);
    let flat = vec![50.0; 101];
    let panel = |phase: f64| LinePanel {
        x: Axis::linear("x").with_range(0.0, 100.0),
        y: Axis::linear("y").with_range(0.0, 100.0),
        series: vec![Series::new("s", x.clone(), flat.clone(), RED)
            .with_width(1)
            .with_marker(Marker::Diamond, 5)
            .with_marker_spacing(20, phase)],
        legend: LegendPos::None,
        ..LinePanel::default()
    };
    let red_columns = |img: &RgbImage| -> Vec<u32> {
        (0..img.width)
            .filter(|&x| {
                (0..img.height)
                    .filter(|&y| is(img.pixel(x, y), RED))
                    .count()
                    > 3
            })
            .collect()
    };
    let a = red_columns(&render_rgb(&one(panel(0.0))).unwrap());
    let b = red_columns(&render_rgb(&one(panel(0.5))).unwrap());
    assert!(a.len() > 20 && b.len() > 20, "{a:?} {b:?}");
    assert!(a.iter().all(|c| !b.contains(c)), "{a:?} vs {b:?}");
}

fn is(c: Rgb, want: Rgb) -> bool {
    c.0.abs_diff(want.0) < 30 && c.1.abs_diff(want.1) < 30 && c.2.abs_diff(want.2) < 30
}

/// Data leaving a fixed range in every way there is.
fn overflowing() -> Figure {
    let x = xs(120, 120.0);
    let wave: Vec<f64> = x.iter().map(|t| 45.0 + 60.0 * (t / 15.0).sin()).collect();
    let band = Band::new(
        x.clone(),
        wave.iter().map(|v| v - 15.0).collect(),
        wave.iter().map(|v| v + 15.0).collect(),
        BLUE,
    );
    let checkpoints = vec![10.0, 40.0, 70.0];
    let points = PointSeries::new(
        "checkpoints",
        checkpoints.clone(),
        vec![50.0, 95.0, 20.0],
        GREEN,
    )
    .with_whiskers(vec![40.0, 80.0, -10.0], vec![60.0, 120.0, 30.0]);
    let angles = LinePanel {
        title: "clipped".into(),
        x: Axis::linear("examples").with_range(0.0, 100.0),
        y: Axis::linear("angle (degrees)")
            .with_range(0.0, 90.0)
            .with_range_note(RangeNote::None),
        series: vec![Series::new("wave", x.clone(), wave, BLUE)],
        bands: vec![band],
        events: vec![
            EventMark::at(30.0, 130.0, RED).with_label("SSA (abscissa before)"),
            EventMark::at(60.0, 70.0, RED).with_label("SSA (abscissa before)"),
            EventMark::tick(150.0, RED).with_label("re-stabilised"),
            EventMark::tick(55.0, RED).with_label("re-stabilised"),
        ],
        points: vec![points],
        legend: LegendPos::Outside,
        ..LinePanel::default()
    };
    let y: Vec<f64> = x.iter().map(|t| (t - 60.0) / 60.0).collect();
    let log = LinePanel {
        title: "zeros on a log axis".into(),
        x: Axis::linear("examples"),
        y: Axis::log10("error").with_range(1e-3, 1.0),
        series: vec![Series::new("error", x, y, RED)],
        legend: LegendPos::None,
        ..LinePanel::default()
    };
    Figure::new((1, 2), vec![Panel::Lines(angles), Panel::Lines(log)])
}

#[test]
fn data_outside_fixed_ranges_get_clip_marks() {
    let fig = overflowing();
    keep(&fig, "clipped");
    let missing = clipped_without_mark(&fig).unwrap();
    assert!(missing.is_empty(), "{missing:#?}");

    // Independently of the tool: the wave leaves the top first between x = 4 and 5
    // (45 + 60 sin(t/15) = 90 at t = 12.6), so blue ink must touch the top edge there
    // in a triangle wider than the curve.
    let layout = figure_layout(&fig).unwrap();
    let (l, t, r, _) = layout.panels[0].plot;
    let img = render_rgb(&fig).unwrap();
    let x_at = |v: f64| l + ((r - l) as f64 * v / 100.0).round() as i32;
    let row = (t + 4) as u32;
    let blue: Vec<i32> = (x_at(8.0)..x_at(18.0))
        .filter(|&x| is(img.pixel(x as u32, row), BLUE))
        .collect();
    assert!(blue.len() >= 5, "no clip mark at the top edge: {blue:?}");
}

#[test]
fn the_clip_check_can_fail() {
    // A mark hidden under an inset is a missing mark: the check looks at pixels.
    let mut fig = overflowing();
    let Panel::Lines(p) = &mut fig.panels[0] else {
        unreachable!()
    };
    let cover = LinePanel {
        series: vec![Series::new("", vec![0.0, 1.0], vec![0.0, 1.0], GREEN)],
        legend: LegendPos::None,
        ..LinePanel::default()
    };
    p.inset = Some(Box::new(Inset {
        panel: cover,
        place: dinv_figures::InsetPlace::Rect {
            left: 0.0,
            top: 0.0,
            width: 1.0,
            height: 0.3,
        },
    }));
    let missing = clipped_without_mark(&fig).unwrap();
    assert!(
        missing
            .iter()
            .any(|m| m.panel == 0 && m.element == "series \"wave\""),
        "{missing:#?}"
    );
}

#[test]
fn a_label_styled_two_ways_is_reported() {
    let x = xs(10, 1.0);
    let panel = |color: Rgb, style: LineStyle| LinePanel {
        series: vec![
            Series::new("BP", x.clone(), x.clone(), color).with_style(style),
            Series::new("FA", x.clone(), x.clone(), GREEN),
        ],
        ..LinePanel::default()
    };
    let same = Figure::new(
        (1, 2),
        vec![
            Panel::Lines(panel(RED, LineStyle::Solid)),
            Panel::Lines(panel(RED, LineStyle::Solid)),
        ],
    );
    assert!(style_conflicts(&same).is_empty());

    for (color, style) in [(BLUE, LineStyle::Solid), (RED, LineStyle::Dashed)] {
        let fig = Figure::new(
            (1, 2),
            vec![
                Panel::Lines(panel(RED, LineStyle::Solid)),
                Panel::Lines(panel(color, style)),
            ],
        );
        let conflicts = style_conflicts(&fig);
        assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
        assert_eq!(conflicts[0].label, "BP");
        let panels: Vec<usize> = conflicts[0].uses.iter().map(|u| u.panel).collect();
        assert_eq!(panels, [0, 1]);
    }

    // The same model as points elsewhere is fine in its colour, not in another.
    let mut points = panel(RED, LineStyle::Solid);
    points.series.clear();
    points.points = vec![PointSeries::new("BP", x.clone(), x.clone(), RED)];
    let mixed = |p: LinePanel| {
        Figure::new(
            (1, 2),
            vec![Panel::Lines(panel(RED, LineStyle::Solid)), Panel::Lines(p)],
        )
    };
    assert!(style_conflicts(&mixed(points.clone())).is_empty());
    points.points[0].color = BLUE;
    assert_eq!(style_conflicts(&mixed(points)).len(), 1);
}

/// The bounding box of dark ink in `img` within rows `rows`.
fn ink_box(img: &RgbImage, rows: std::ops::Range<u32>) -> (u32, u32, u32, u32) {
    let mut b = (u32::MAX, u32::MAX, 0, 0);
    for y in rows {
        for x in 0..img.width {
            let c = img.pixel(x, y);
            if c.0 < 100 && c.1 < 100 && c.2 < 100 {
                b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
            }
        }
    }
    b
}

fn titled(title: &str) -> Figure {
    one(LinePanel {
        title: title.into(),
        series: vec![Series::new("", vec![0.0, 1.0], vec![0.0, 1.0], RED)],
        legend: LegendPos::None,
        ..LinePanel::default()
    })
}

#[test]
fn subscripts_and_superscripts_are_drawn_as_such() {
    // The title strip: above the plot, less the top tick label poking up into it.
    let ink = |t: &str| {
        let fig = titled(t);
        let top = figure_layout(&fig).unwrap().panels[0].plot.1 as u32;
        ink_box(&render_rgb(&fig).unwrap(), 0..top - 10)
    };
    let (flat, sub) = (ink("angle δDI"), ink("angle δ_{DI}"));
    // Smaller letters: narrower; lowered: the ink reaches further down.
    assert!(sub.2 - sub.0 < flat.2 - flat.0, "{sub:?} vs {flat:?}");
    assert!(sub.3 > flat.3, "{sub:?} vs {flat:?}");
    let (flat, sup) = (ink("WT"), ink("W^T"));
    assert!(sup.2 - sup.0 < flat.2 - flat.0, "{sup:?} vs {flat:?}");
    // `x_1` is markup (a lone character), `x_10` is not: it draws the characters as
    // typed, exactly like the same text with the underscore escaped.
    let img = |t: &str| render_rgb(&titled(t)).unwrap();
    assert_eq!(img("x_10"), img("x\\_10"));
    assert_ne!(img("x_1"), img("x\\_1"));

    // In SVG the title stays one <text>, with the subscript as a lowered, smaller tspan.
    let dir = tempfile::tempdir().unwrap();
    let files = render(&titled("angle δ_{DI}"), &dir.path().join("sub")).unwrap();
    let svg = std::fs::read_to_string(files.svg).unwrap();
    let text = svg
        .split("<text")
        .find(|t| t.contains("angle"))
        .expect("title text");
    assert!(
        text.contains("<tspan>angle δ</tspan><tspan dy=\"3.4\" font-size=\"9.6\">DI</tspan>"),
        "{text}"
    );
    keep(&titled("angle δ_{DI} vs δ_{PBP}, W^{T} and x_1"), "markup");
}

/// A 2000-example run with its first 100 examples in an inset, and a legend.
fn with_inset(legend: LegendPos, corner: Corner) -> LinePanel {
    let x = xs(2001, 2000.0);
    let curves: Vec<Series> = (0..4)
        .map(|k| {
            let y = x
                .iter()
                .map(|t| 60.0 * (-t / (20.0 + 15.0 * k as f64)).exp() + 2.0 + k as f64)
                .collect();
            Series::new(format!("model {k}"), x.clone(), y, palette::pick(k))
                .with_marker(Marker::pick(k), 3)
                .with_marker_spacing(250, k as f64 / 4.0)
        })
        .collect();
    let mut early = LinePanel {
        x: Axis::linear("").with_range(0.0, 100.0),
        y: Axis::log10(""),
        series: curves.clone(),
        legend: LegendPos::None,
        ..LinePanel::default()
    };
    for s in &mut early.series {
        s.marker_every = 20;
    }
    LinePanel {
        title: "error, first 100 examples inset".into(),
        x: Axis::linear("examples"),
        y: Axis::linear("error"),
        series: curves,
        legend,
        inset: Some(Box::new(Inset::corner(early, corner, 0.5, 0.5))),
        ..LinePanel::default()
    }
}

fn overlap(a: (i32, i32, i32, i32), b: (i32, i32, i32, i32)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

#[test]
fn legends_keep_clear_of_insets() {
    for legend in [LegendPos::UpperRight, LegendPos::Best, LegendPos::LowerLeft] {
        for corner in [Corner::UpperRight, Corner::LowerLeft] {
            let fig = one(with_inset(legend, corner));
            let layout = figure_layout(&fig).unwrap();
            let main = layout.panels.iter().find(|p| !p.inset).unwrap();
            let (legend_box, inset_box) = (main.legend.unwrap(), main.inset_box.unwrap());
            assert!(
                !overlap(legend_box, inset_box),
                "{legend:?}, inset {corner:?}: legend {legend_box:?} on inset {inset_box:?}"
            );
            // The inset's frame is whole: nothing was drawn over it.
            let img = render_rgb(&fig).unwrap();
            let (l, t, r, b) = inset_box;
            let frame = (l..r).map(|x| (x, t)).chain((t..b).map(|y| (l, y)));
            let grey = |c: Rgb| c == Rgb(190, 190, 190);
            let broken = frame
                .filter(|&(x, y)| !grey(img.pixel(x as u32, y as u32)))
                .count();
            assert_eq!(broken, 0, "{legend:?}, inset {corner:?}: frame covered");
            // The inset has its own plot area, inside its box.
            let inner = layout.panels.iter().find(|p| p.inset).unwrap().plot;
            assert!(
                inner.0 > l && inner.1 > t && inner.2 < r && inner.3 < b,
                "{inner:?}"
            );
        }
    }
    keep(
        &one(with_inset(LegendPos::Best, Corner::UpperRight)),
        "inset",
    );
}

/// Five small multiples and a wide panel: spans and a shared legend.
fn small_multiples(shared: SharedLegend) -> Figure {
    let x = xs(50, 50.0);
    let panel = |k: usize| LinePanel {
        title: format!("layer {k}"),
        x: Axis::linear("examples"),
        y: Axis::linear("angle"),
        series: (0..3)
            .map(|m| {
                let y = x
                    .iter()
                    .map(|t| (m + 1) as f64 * 10.0 + t * k as f64 * 0.1)
                    .collect();
                Series::new(["BP", "FA", "DI"][m], x.clone(), y, palette::pick(m))
            })
            .collect(),
        ..LinePanel::default()
    };
    let panels = (0..4).map(|k| Panel::Lines(panel(k))).collect();
    let mut fig = Figure::new((2, 3), panels)
        .with_spans(vec![1, 1, 1, 2])
        .with_shared_legend(shared);
    fig.panel_size = (360, 280);
    fig.with_title("Small multiples")
}

#[test]
fn spans_fill_their_row_and_shared_legends_stay_out_of_plots() {
    for shared in [SharedLegend::Below, SharedLegend::Cell] {
        let fig = small_multiples(shared);
        keep(&fig, &format!("multiples_{shared:?}").to_lowercase());
        let layout = figure_layout(&fig).unwrap();
        assert_eq!(layout.panels.len(), 4);
        let plots: Vec<_> = layout.panels.iter().map(|p| p.plot).collect();
        for (i, a) in plots.iter().enumerate() {
            assert!(layout.panels[i].legend.is_none(), "own legend drawn");
            for b in &plots[i + 1..] {
                assert!(!overlap(*a, *b), "{a:?} overlaps {b:?}");
            }
        }
        // Panel 3 spans two of the three columns of the second row.
        let wide = plots[3].2 - plots[3].0;
        let narrow = plots[0].2 - plots[0].0;
        assert!(wide > 2 * narrow, "{wide} vs {narrow}");
        assert!(plots[3].1 > plots[0].3, "panel 3 not in the second row");
        let legend = layout.shared_legend.expect("shared legend");
        for p in &plots {
            assert!(
                !overlap(legend, *p),
                "{shared:?}: legend {legend:?} on plot {p:?}"
            );
        }
        match shared {
            SharedLegend::Below => assert!(plots.iter().all(|p| legend.1 >= p.3)),
            _ => assert!(legend.0 >= plots[3].2, "legend not in the free cell"),
        }
    }
    let mut crowded = small_multiples(SharedLegend::Cell);
    crowded.spans = vec![1, 1, 1, 3];
    let err = render_rgb(&crowded).unwrap_err().to_string();
    assert!(err.contains("free cell"), "{err}");
}

#[test]
fn events_and_points_are_drawn_where_they_belong() {
    let fig = overflowing();
    let vis = series_visibility(&fig).unwrap();
    let find = |label: &str| vis.iter().find(|v| v.label == label).unwrap();
    assert_eq!(find("SSA (abscissa before)").kind, EntryKind::Events);
    assert_eq!(find("checkpoints").kind, EntryKind::Points);
    for v in &vis {
        assert!(v.pixels > 20, "{v:?}");
    }
    // One legend entry per event label.
    assert_eq!(
        vis.iter().filter(|v| v.kind == EntryKind::Events).count(),
        2
    );
}

#[test]
fn dodged_points_do_not_overlap() {
    let panel = |dodge: u32| LinePanel {
        x: Axis::linear("checkpoint"),
        y: Axis::linear("angle"),
        points: (0..3)
            .map(|k| {
                PointSeries::new(
                    format!("model {k}"),
                    vec![1.0, 2.0],
                    vec![5.0, 6.0],
                    palette::pick(k),
                )
                .with_whiskers(vec![4.0, 5.0], vec![6.0, 7.0])
            })
            .collect(),
        point_dodge: dodge,
        ..LinePanel::default()
    };
    let hidden = |v: &[dinv_figures::Visibility]| v.iter().filter(|v| v.pixels < 30).count();
    let stacked = series_visibility(&one(panel(0))).unwrap();
    assert_eq!(hidden(&stacked), 2, "{stacked:?}");
    let dodged = series_visibility(&one(panel(12))).unwrap();
    assert_eq!(hidden(&dodged), 0, "{dodged:?}");
    keep(&one(panel(12)), "points");
}

#[test]
fn range_notes_say_where_the_axis_starts() {
    let x = xs(20, 10.0);
    let y: Vec<f64> = x.iter().map(|t| 60.0 + t).collect();
    let panel = |note: RangeNote| LinePanel {
        x: Axis::linear("examples"),
        y: Axis::linear("angle")
            .with_range(45.0, 90.0)
            .with_range_note(note),
        series: vec![Series::new("a", x.clone(), y.clone(), RED)],
        legend: LegendPos::None,
        ..LinePanel::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = RangeNote::StartsAt { unit: "°".into() };
    let files = render(&one(panel(unit)), &dir.path().join("note")).unwrap();
    let svg = std::fs::read_to_string(files.svg).unwrap();
    assert!(svg.contains("angle (axis starts at 45°)"), "note missing");
    let plain = render_rgb(&one(panel(RangeNote::None))).unwrap();
    let broken = render_rgb(&one(panel(RangeNote::Break))).unwrap();
    assert_ne!(plain, broken, "no break mark drawn");
    keep(&one(panel(RangeNote::Break)), "break");
}

#[test]
fn new_features_render_deterministically() {
    let figs = [
        twins(true),
        overflowing(),
        one(with_inset(LegendPos::Best, Corner::UpperRight)),
        small_multiples(SharedLegend::Below),
    ];
    for (k, fig) in figs.iter().enumerate() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = render(fig, &a.path().join("fig")).unwrap();
        let second = render(fig, &b.path().join("fig")).unwrap();
        let read = std::fs::read;
        assert!(
            read(&first.png).unwrap() == read(&second.png).unwrap(),
            "figure {k}"
        );
        assert!(
            read(&first.svg).unwrap() == read(&second.svg).unwrap(),
            "figure {k}"
        );
        assert_eq!(
            series_visibility(fig).unwrap(),
            series_visibility(fig).unwrap()
        );
    }
}

#[test]
fn tiny_angles_and_tiny_insets_render() {
    // Angles from 4e-5° to 90° on a log axis, with an inset far too small to hold axes.
    let x = xs(100, 100.0);
    let y: Vec<f64> = x.iter().map(|t| 90.0 * (-t / 6.0).exp() + 4e-5).collect();
    let tiny = LinePanel {
        series: vec![Series::new("", x.clone(), y.clone(), RED)],
        legend: LegendPos::None,
        ..LinePanel::default()
    };
    let panel = LinePanel {
        x: Axis::linear("examples"),
        y: Axis::log10("angle (degrees)"),
        series: vec![Series::new("DI", x, y, RED)],
        inset: Some(Box::new(Inset::corner(
            tiny,
            Corner::UpperRight,
            0.05,
            0.05,
        ))),
        ..LinePanel::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let files = render(&one(panel), &dir.path().join("angles")).unwrap();
    let svg = std::fs::read_to_string(files.svg).unwrap();
    for label in ["10⁻⁴", "10⁻²", "10⁰"] {
        assert!(
            svg.contains(&format!("\n{label}\n")),
            "no tick label {label}"
        );
    }
}

#[test]
fn bad_new_input_is_an_error() {
    let x = xs(5, 1.0);
    let base = || LinePanel {
        series: vec![Series::new("s", x.clone(), x.clone(), RED)],
        ..LinePanel::default()
    };
    let message = |fig: Figure| render_rgb(&fig).unwrap_err().to_string();

    let mut p = base();
    p.series[0] = p.series[0].clone().with_marker_spacing(3, 1.0);
    assert!(message(one(p)).contains("marker phase 1 is not in [0, 1)"));

    let mut p = base();
    p.series[0] = p.series[0].clone().with_marker(Marker::Square, 0);
    assert!(message(one(p)).contains("markers of size 0"));

    let mut p = base();
    p.points =
        vec![PointSeries::new("p", x.clone(), x.clone(), RED).with_whiskers(vec![1.0], vec![])];
    assert!(message(one(p)).contains("point series \"p\": x, y, lo and hi have 5, 5, 1 and 0"));

    let mut p = base();
    p.events = vec![EventMark::at(f64::NAN, 1.0, RED)];
    assert!(message(one(p)).contains("event 0: position (NaN"));

    let mut p = base();
    p.inset = Some(Box::new(Inset::corner(base(), Corner::UpperLeft, 0.6, 1.2)));
    assert!(message(one(p)).contains("inset box"));

    let mut p = base();
    let mut inner = base();
    inner.inset = Some(Box::new(Inset::corner(base(), Corner::UpperLeft, 0.5, 0.5)));
    p.inset = Some(Box::new(Inset::corner(inner, Corner::UpperLeft, 0.5, 0.5)));
    assert!(message(one(p)).contains("panel 0, inset: panel 0: an inset cannot hold another"));

    let mut p = base();
    let mut inner = base();
    inner.series[0].width = 0;
    p.inset = Some(Box::new(Inset::corner(inner, Corner::UpperLeft, 0.5, 0.5)));
    assert!(message(one(p)).contains("panel 0, inset: panel 0, series \"s\": width"));

    let fig = Figure::new((1, 2), vec![Panel::Lines(base())]).with_spans(vec![3]);
    assert!(message(fig).contains("panel 0 spans 3 columns; the grid has 2"));
    let fig =
        Figure::new((1, 2), vec![Panel::Lines(base()), Panel::Lines(base())]).with_spans(vec![2]);
    assert!(message(fig).contains("panel 1 lies beyond the 1x2 grid"));

    // Points alone make a panel; nothing at all does not.
    let mut p = base();
    p.series.clear();
    assert!(message(one(p.clone())).contains("the series list is empty"));
    p.points = vec![PointSeries::new("p", x.clone(), x.clone(), RED)];
    render_rgb(&one(p)).unwrap();
}

/// A figure title wider than the figure is set smaller until it fits: the title rows
/// keep a blank margin at both edges, and the title still has ink (it is drawn).
#[test]
fn a_long_title_is_shrunk_to_fit() {
    let x = xs(20, 10.0);
    let fig = |title: &str| {
        one(LinePanel {
            title: "panel".into(),
            x: Axis::linear("x"),
            y: Axis::linear("y"),
            series: vec![Series::new("a", x.clone(), decay(&x), BLUE)],
            ..LinePanel::default()
        })
        .with_title(title)
    };
    let long = "Beyond the paper: BP controls for the nonlinear regression (30-20-10-10, tanh)";
    let f = fig(long);
    keep(&f, "long_title");
    let img = render_rgb(&f).unwrap();
    let dark = |x: u32, y: u32| {
        let i = 3 * (y * img.width + x) as usize;
        img.data[i..i + 3].iter().all(|&c| c < 128)
    };
    // The title band: the top 26 rows (a 20 px title and its padding).
    let inked = |x: u32| (0..26).any(|y| dark(x, y));
    assert!((0..img.width).any(inked), "no title drawn");
    for x in (0..3).chain(img.width - 3..img.width) {
        assert!(!inked(x), "title touches the edge at column {x}");
    }
}
