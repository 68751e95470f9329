//! End-to-end rendering: files on disk, determinism, errors, and pixels where they belong.
//!
//! Set `DINV_FIGURES_KEEP=<folder>` to also write the sample figure there for viewing.

use std::fs;
use std::path::Path;

use dinv_figures::{
    palette, render, render_rgb, Axis, Band, Figure, FigureError, ImageGridPanel, LegendPos,
    LinePanel, LineStyle, Panel, Rgb, RgbImage, ScatterPanel, Series,
};

const RED: Rgb = Rgb(255, 0, 0);
const BLUE: Rgb = Rgb(0, 0, 255);

/// A deterministic pseudo-random stream in [0, 1) (no rand dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn epochs(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

fn learning_curves() -> LinePanel {
    let x = epochs(50);
    let methods = [("BP", 0.9), ("DI", 0.8), ("FA", 0.6)];
    let mut series = vec![];
    let mut bands = vec![];
    for (i, (name, rate)) in methods.into_iter().enumerate() {
        let median: Vec<f64> = x
            .iter()
            .map(|t| 2.0 + 60.0 * (-rate * t / 8.0).exp())
            .collect();
        let color = palette::pick(i);
        bands.push(Band::new(
            x.clone(),
            median.iter().map(|m| m * 0.85).collect(),
            median.iter().map(|m| m * 1.15).collect(),
            color,
        ));
        series.push(Series::new(name, x.clone(), median, color));
    }
    LinePanel {
        title: "Test error".into(),
        x: Axis::linear("epoch"),
        y: Axis::linear("test error (%)"),
        series,
        bands,
        hlines: vec![(0.0, LineStyle::Dotted)],
        legend: LegendPos::Best,
        ..LinePanel::default()
    }
}

fn log_losses() -> LinePanel {
    let x = epochs(60);
    let loss = |scale: f64| -> Vec<f64> {
        x.iter()
            .map(|t| scale * 10f64.powf(-t / 15.0) + 1e-4)
            .collect()
    };
    let mut with_gaps = loss(3.0);
    with_gaps[10] = 0.0;
    with_gaps[11] = f64::NAN;
    with_gaps[30] = -1.0;
    LinePanel {
        title: "Training loss".into(),
        x: Axis::linear("epoch"),
        y: Axis::log10("loss"),
        series: vec![
            Series::new("BP", x.clone(), loss(1.0), palette::pick(0)),
            Series::new("DI (dashed)", x.clone(), with_gaps, palette::pick(1))
                .with_style(LineStyle::Dashed),
            Series::new("FA (dotted)", x.clone(), loss(0.3), palette::pick(2))
                .with_style(LineStyle::Dotted),
        ],
        bands: vec![],
        hlines: vec![],
        legend: LegendPos::UpperRight,
        ..LinePanel::default()
    }
}

fn angles() -> LinePanel {
    let x = epochs(40);
    let angle = |start: f64, end: f64| -> Vec<f64> {
        x.iter()
            .map(|t| end + (start - end) * (-t / 6.0).exp())
            .collect()
    };
    LinePanel {
        title: "Alignment with BP".into(),
        x: Axis::linear("epoch"),
        y: Axis::linear("angle (degrees)").with_range(0.0, 90.0),
        series: vec![
            Series::new("DI", x.clone(), angle(85.0, 12.0), palette::pick(1)),
            Series::new("FA", x.clone(), angle(88.0, 55.0), palette::pick(2))
                .with_style(LineStyle::Dashed),
        ],
        bands: vec![],
        hlines: vec![(45.0, LineStyle::Dashed)],
        legend: LegendPos::Outside,
        ..LinePanel::default()
    }
}

fn eigenvalues() -> LinePanel {
    let x: Vec<f64> = (1..=30).map(f64::from).collect();
    let y: Vec<f64> = x.iter().map(|k| (0.3 - 0.05 * k) * 1e-3).collect();
    LinePanel {
        title: "Spectrum".into(),
        x: Axis::log10("index"),
        y: Axis::linear("Re(eigenvalue)"),
        series: vec![Series::new("W B", x, y, palette::pick(3)).with_width(3)],
        bands: vec![],
        hlines: vec![(0.0, LineStyle::Solid)],
        legend: LegendPos::LowerLeft,
        ..LinePanel::default()
    }
}

fn embedding() -> ScatterPanel {
    let mut rng = Lcg(7);
    let centres = [(0.0, 0.0), (4.0, 1.0), (1.5, 4.0), (5.0, 5.0)];
    let points = (0..240)
        .map(|i| {
            let class = i % centres.len();
            let (cx, cy) = centres[class];
            (cx + rng.next() * 1.5, cy + rng.next() * 1.5, class)
        })
        .collect();
    ScatterPanel {
        title: "t-SNE of hidden layer".into(),
        points,
        class_names: vec!["zero".into(), "one".into(), "two".into(), "three".into()],
        palette: vec![],
        point_size: 3,
    }
}

fn digits() -> ImageGridPanel {
    let (h, w) = (28, 28);
    let blob = |k: usize, blur: f64| -> Vec<f64> {
        let (cy, cx) = (10.0 + (k % 3) as f64 * 3.0, 9.0 + (k % 5) as f64 * 2.0);
        (0..h * w)
            .map(|i| {
                let (y, x) = ((i / w) as f64, (i % w) as f64);
                let r = ((y - cy).powi(2) + (x - cx).powi(2)).sqrt();
                (1.0 - (r - 6.0).abs() / blur).clamp(0.0, 1.0)
            })
            .collect()
    };
    let inputs = (0..10).map(|k| blob(k, 2.0));
    let recon = (0..10).map(|k| blob(k, 3.5));
    ImageGridPanel {
        title: "Autoencoder".into(),
        rows: 2,
        cols: 10,
        image_h: h,
        image_w: w,
        pixels: inputs.chain(recon).collect(),
        value_range: (0.0, 1.0),
        row_labels: vec!["input".into(), "output".into()],
    }
}

fn sample_figure() -> Figure {
    Figure::new(
        (2, 3),
        vec![
            Panel::Lines(learning_curves()),
            Panel::Lines(log_losses()),
            Panel::Lines(angles()),
            Panel::Lines(eigenvalues()),
            Panel::Scatter(embedding()),
            Panel::Images(digits()),
        ],
    )
    .with_title("Sample figure")
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 24, "PNG too short: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk is not IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// The contents of the SVG's `<text>` elements, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|chunk| {
            let body = &chunk[chunk.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

#[test]
fn full_figure_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let fig = sample_figure();
    let files = render(&fig, &dir.path().join("sample")).unwrap();
    assert_eq!(files.png, dir.path().join("sample.png"));
    assert_eq!(files.svg, dir.path().join("sample.svg"));

    let png = fs::read(&files.png).unwrap();
    assert_eq!(png_size(&png), (3 * 480, 2 * 360));

    let svg = fs::read_to_string(&files.svg).unwrap();
    assert!(svg.contains("<svg"), "no <svg> element");
    assert!(svg.trim_end().ends_with("</svg>"), "SVG not closed");
    let texts = svg_texts(&svg);
    for text in [
        "Sample figure",
        "Test error",
        "epoch",
        "test error (%)",
        "angle (degrees)",
        "loss",
        "BP",
        "DI (dashed)",
        "FA (dotted)",
        "zero",
        "three",
        "input",
        "output",
        "10⁻³",
    ] {
        assert!(texts.iter().any(|t| t == text), "SVG lacks text {text:?}");
    }

    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    if let Ok(keep) = std::env::var("DINV_FIGURES_KEEP") {
        render(&fig, &Path::new(&keep).join("sample")).unwrap();
    }
}

#[test]
fn rendering_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fig = sample_figure();
    let first = render(&fig, &a.path().join("fig")).unwrap();
    let second = render(&fig, &b.path().join("fig")).unwrap();
    assert!(fs::read(&first.png).unwrap() == fs::read(&second.png).unwrap());
    assert!(fs::read(&first.svg).unwrap() == fs::read(&second.svg).unwrap());
}

#[test]
fn rendering_replaces_an_existing_figure() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("fig");
    fs::write(dir.path().join("fig.png"), b"stale").unwrap();
    render(&sample_figure(), &stem).unwrap();
    png_size(&fs::read(dir.path().join("fig.png")).unwrap());
}

fn one_panel(panel: LinePanel) -> Figure {
    Figure::new((1, 1), vec![Panel::Lines(panel)])
}

fn message(err: FigureError) -> String {
    err.to_string()
}

#[test]
fn mismatched_lengths_are_an_error() {
    let panel = LinePanel {
        series: vec![Series::new(
            "ragged",
            vec![1.0, 2.0, 3.0],
            vec![1.0, 2.0],
            RED,
        )],
        ..LinePanel::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("ragged");
    let msg = message(render(&one_panel(panel), &stem).unwrap_err());
    assert!(msg.contains("\"ragged\""), "{msg}");
    assert!(msg.contains("x has 3 values but y has 2"), "{msg}");
    assert!(msg.contains(&stem.display().to_string()), "{msg}");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "files written"
    );

    let band = Band::new(vec![1.0, 2.0], vec![0.0], vec![1.0, 2.0], RED);
    let panel = LinePanel {
        series: vec![Series::new("ok", vec![1.0], vec![1.0], RED)],
        bands: vec![band],
        ..LinePanel::default()
    };
    let msg = message(render_rgb(&one_panel(panel)).unwrap_err());
    assert!(
        msg.contains("band 0: x, lo and hi have 2, 1 and 2 values"),
        "{msg}"
    );
}

#[test]
fn empty_figures_are_an_error() {
    let msg = message(render_rgb(&Figure::new((1, 1), vec![])).unwrap_err());
    assert!(msg.contains("no panels"), "{msg}");

    let msg = message(render_rgb(&one_panel(LinePanel::default())).unwrap_err());
    assert!(msg.contains("panel 0: the series list is empty"), "{msg}");

    let scatter = ScatterPanel {
        point_size: 2,
        ..ScatterPanel::default()
    };
    let fig = Figure::new((1, 1), vec![Panel::Scatter(scatter)]);
    let msg = message(render_rgb(&fig).unwrap_err());
    assert!(msg.contains("panel 0: the scatter has no points"), "{msg}");
}

#[test]
fn panels_beyond_the_grid_are_an_error() {
    let panel = || Panel::Lines(learning_curves());
    let fig = Figure::new((1, 2), vec![panel(), panel(), panel()]);
    let msg = message(render_rgb(&fig).unwrap_err());
    assert!(msg.contains("panel 2 lies beyond the 1x2 grid"), "{msg}");
}

#[test]
fn bad_images_and_ranges_are_errors() {
    let mut grid = digits();
    grid.pixels[3].pop();
    let msg = message(render_rgb(&Figure::new((1, 1), vec![Panel::Images(grid)])).unwrap_err());
    assert!(
        msg.contains("image 3 has 783 values, expected 28x28 = 784"),
        "{msg}"
    );

    let mut panel = log_losses();
    panel.y.range = Some((0.0, 1.0));
    let msg = message(render_rgb(&one_panel(panel)).unwrap_err());
    assert!(msg.contains("y range (0, 1)"), "{msg}");
    assert!(msg.contains("min > 0 on a log axis"), "{msg}");

    let mut scatter = embedding();
    scatter.palette = vec![RED, BLUE];
    let msg = message(render_rgb(&Figure::new((1, 1), vec![Panel::Scatter(scatter)])).unwrap_err());
    assert!(msg.contains("class 2 has no colour"), "{msg}");
}

#[test]
fn a_missing_output_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such");
    let err = render(&sample_figure(), &missing.join("fig")).unwrap_err();
    assert!(matches!(err, FigureError::OutputDir { .. }), "{err:?}");
    let msg = message(err);
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(!missing.exists(), "the folder must not be created");

    // A plain file where the folder should be.
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    let err = render(&sample_figure(), &file.join("fig")).unwrap_err();
    assert!(matches!(err, FigureError::OutputDir { .. }), "{err:?}");
}

// ---- pixels ----

fn is_red(c: Rgb) -> bool {
    c.0 > 200 && c.1 < 60 && c.2 < 60
}

fn is_blue(c: Rgb) -> bool {
    c.2 > 200 && c.0 < 60 && c.1 < 60
}

/// Rows and columns of all pixels matching `pred`.
fn matching(img: &RgbImage, pred: impl Fn(Rgb) -> bool) -> Vec<(u32, u32)> {
    let mut hits = vec![];
    for y in 0..img.height {
        for x in 0..img.width {
            if pred(img.pixel(x, y)) {
                hits.push((x, y));
            }
        }
    }
    hits
}

fn span(values: impl Iterator<Item = u32>) -> (u32, u32) {
    values.fold((u32::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

fn flat(label: &str, y: f64, color: Rgb, width: u32) -> Series {
    Series::new(label, vec![0.0, 10.0], vec![y, y], color).with_width(width)
}

/// A plot on fixed 0..10 ranges with blue edge lines at y = 0 and y = 10, so the test
/// can find the plot rectangle in the image and predict where data must land.
fn calibrated(mut series: Vec<Series>, y_scale_log: bool) -> LinePanel {
    let (lo, hi) = if y_scale_log {
        (1.0, 100.0)
    } else {
        (0.0, 10.0)
    };
    series.push(flat("", lo, BLUE, 1));
    series.push(flat("", hi, BLUE, 1));
    LinePanel {
        x: Axis::linear("x").with_range(0.0, 10.0),
        y: if y_scale_log {
            Axis::log10("y").with_range(lo, hi)
        } else {
            Axis::linear("y").with_range(lo, hi)
        },
        series,
        legend: LegendPos::None,
        ..LinePanel::default()
    }
}

/// Top and bottom pixel rows of the plot rectangle, from the blue edge lines.
fn plot_rows(img: &RgbImage) -> (f64, f64) {
    let (top, bottom) = span(matching(img, is_blue).into_iter().map(|(_, y)| y));
    assert!(bottom > top + 100, "edge lines not found: {top}..{bottom}");
    (f64::from(top), f64::from(bottom))
}

#[test]
fn a_thick_red_line_lands_on_its_row() {
    let fig = one_panel(calibrated(vec![flat("level", 7.5, RED, 6)], false));
    let img = render_rgb(&fig).unwrap();
    assert_eq!((img.width, img.height), (480, 360));
    let (top, bottom) = plot_rows(&img);
    let expected = top + 0.25 * (bottom - top);

    let red = matching(&img, is_red);
    assert!(red.len() > 300 * 5, "too few red pixels: {}", red.len());
    let (y0, y1) = span(red.iter().map(|p| p.1));
    assert!(
        f64::from(y0) >= expected - 4.0 && f64::from(y1) <= expected + 4.0,
        "red rows {y0}..{y1}, expected around {expected}"
    );
    // The line spans the plot from left to right, like the edge lines.
    let (bx0, bx1) = span(matching(&img, is_blue).into_iter().map(|p| p.0));
    let (rx0, rx1) = span(red.iter().map(|p| p.0));
    assert!(
        rx0.abs_diff(bx0) <= 4 && rx1.abs_diff(bx1) <= 4,
        "{rx0}..{rx1} vs {bx0}..{bx1}"
    );
}

#[test]
fn a_gap_splits_the_line() {
    let x: Vec<f64> = (0..=10).map(f64::from).collect();
    let mut y = vec![5.0; 11];
    y[5] = f64::NAN;
    let line = Series::new("gappy", x, y, RED).with_width(4);
    let img = render_rgb(&one_panel(calibrated(vec![line], false))).unwrap();
    let (bx0, bx1) = span(matching(&img, is_blue).into_iter().map(|p| p.0));
    let px = |v: f64| f64::from(bx0) + v / 10.0 * f64::from(bx1 - bx0);
    let red_cols: Vec<u32> = matching(&img, is_red).into_iter().map(|p| p.0).collect();
    let near = |v: f64| red_cols.iter().any(|&c| (f64::from(c) - px(v)).abs() < 2.0);
    assert!(near(2.0) && near(8.0), "line missing away from the gap");
    assert!(!near(5.0), "line drawn across the NaN gap at x = 5");
    assert!(!red_cols
        .iter()
        .any(|&c| f64::from(c) > px(4.2) && f64::from(c) < px(5.8)));
}

#[test]
fn dashes_leave_gaps_along_the_line() {
    let solid = render_rgb(&one_panel(calibrated(vec![flat("s", 5.0, RED, 3)], false))).unwrap();
    let dashed_series = flat("d", 5.0, RED, 3).with_style(LineStyle::Dashed);
    let dashed = render_rgb(&one_panel(calibrated(vec![dashed_series], false))).unwrap();
    let dotted_series = flat("o", 5.0, RED, 3).with_style(LineStyle::Dotted);
    let dotted = render_rgb(&one_panel(calibrated(vec![dotted_series], false))).unwrap();
    let count = |img: &RgbImage| matching(img, is_red).len() as f64;
    let (s, d, o) = (count(&solid), count(&dashed), count(&dotted));
    assert!(d > 0.3 * s && d < 0.8 * s, "dashed {d} vs solid {s}");
    assert!(o > 0.1 * s && o < 0.6 * s, "dotted {o} vs solid {s}");
}

#[test]
fn a_band_is_shaded_between_lo_and_hi() {
    let green = Rgb(0, 160, 0);
    let mut panel = calibrated(vec![flat("m", 9.0, RED, 2)], false);
    panel.bands = vec![Band {
        x: vec![0.0, 10.0],
        lo: vec![2.0, 2.0],
        hi: vec![4.0, 4.0],
        color: green,
        opacity: 0.5,
    }];
    let img = render_rgb(&one_panel(panel)).unwrap();
    let (top, bottom) = plot_rows(&img);
    let row = |v: f64| (bottom - v / 10.0 * (bottom - top)).round() as u32;
    let (bx0, bx1) = span(matching(&img, is_blue).into_iter().map(|p| p.0));
    let mid_x = (bx0 + bx1) / 2;
    let shaded = img.pixel(mid_x, row(3.0));
    assert!(
        shaded.0.abs_diff(128) < 20 && shaded.1.abs_diff(208) < 20 && shaded.2.abs_diff(128) < 20,
        "band pixel {shaded:?}"
    );
    for v in [1.0, 5.0] {
        let outside = img.pixel(mid_x, row(v));
        assert!(
            outside.1 < 200 || outside.0 > 200,
            "band leaks to y = {v}: {outside:?}"
        );
    }
}

#[test]
fn a_log_axis_skips_zeros_negatives_and_nan() {
    let x: Vec<f64> = (0..=10).map(f64::from).collect();
    let y = vec![
        0.0,
        -1.0,
        f64::NAN,
        10.0,
        10.0,
        10.0,
        10.0,
        f64::NEG_INFINITY,
        0.0,
        10.0,
        10.0,
    ];
    let line = Series::new("positive", x, y, RED).with_width(4);
    let img = render_rgb(&one_panel(calibrated(vec![line], true))).unwrap();
    let (top, bottom) = plot_rows(&img);
    let expected = (top + bottom) / 2.0; // 10 is halfway between 1 and 100 on a log axis
    let red = matching(&img, is_red);
    // Zeros and negatives lie below any log range: since issue 17 they are no longer
    // dropped silently but get clip marks on the bottom edge (the blue line there).
    let (line, marks): (Vec<_>, Vec<_>) = red
        .into_iter()
        .partition(|p: &(u32, u32)| f64::from(p.1) < bottom - 10.0);
    assert!(!line.is_empty(), "positive points not drawn");
    let (y0, y1) = span(line.iter().map(|p| p.1));
    assert!(
        f64::from(y0) >= expected - 4.0 && f64::from(y1) <= expected + 4.0,
        "red rows {y0}..{y1}, expected around {expected}"
    );
    // One mark for the run 0, -1 at x = 0 and one for the 0 at x = 8; NaN and -inf
    // are gaps, not data.
    let (bx0, bx1) = span(matching(&img, is_blue).into_iter().map(|p| p.0));
    let col = |v: f64| f64::from(bx0) + v / 10.0 * f64::from(bx1 - bx0);
    let near = |v: f64| marks.iter().any(|p| (f64::from(p.0) - col(v)).abs() <= 5.0);
    assert!(near(0.0) && near(8.0), "clip marks missing: {marks:?}");
    assert!(
        !near(2.0) && !near(7.0) && !near(5.0),
        "stray marks: {marks:?}"
    );

    // Auto-fitted log axes with only unshowable values still render.
    let hopeless = Series::new("none", vec![1.0, 2.0], vec![0.0, f64::NAN], RED);
    let panel = LinePanel {
        y: Axis::log10("y"),
        series: vec![hopeless],
        ..LinePanel::default()
    };
    render_rgb(&one_panel(panel)).unwrap();
}

#[test]
fn image_cells_show_their_grey_levels() {
    let grid = ImageGridPanel {
        title: String::new(),
        rows: 1,
        cols: 2,
        image_h: 4,
        image_w: 4,
        pixels: vec![vec![0.0; 16], vec![1.0; 16]],
        value_range: (0.0, 1.0),
        row_labels: vec![],
    };
    let img = render_rgb(&Figure::new((1, 1), vec![Panel::Images(grid)])).unwrap();
    let black = matching(&img, |c| c == Rgb(0, 0, 0));
    assert!(
        black.len() > 100 * 100,
        "black cell too small: {}",
        black.len()
    );
    let (x0, x1) = span(black.iter().map(|p| p.0));
    assert!(
        x1 < img.width / 2,
        "black cell should be the left one: {x0}..{x1}"
    );
    assert!(x1 - x0 > 100, "cell not scaled up: {x0}..{x1}");
}

/// A noisy series jumping between `lo` and `hi` at every step, like an angle that
/// flips between 0 and 90 degrees.
fn zigzag(n: usize, lo: f64, hi: f64, width: u32) -> Series {
    let x: Vec<f64> = (0..n).map(|i| 10.0 * i as f64 / (n - 1) as f64).collect();
    let y = (0..n).map(|i| if i % 2 == 0 { lo } else { hi }).collect();
    Series::new("zigzag", x, y, RED).with_width(width)
}

#[test]
fn thick_zigzags_have_no_spikes() {
    // Spikes appeared once points were denser than pixel columns (the plot is ~400 px wide).
    for (n, width) in [(300, 3), (600, 3), (1000, 2), (4000, 3), (4000, 5)] {
        let img = render_rgb(&one_panel(calibrated(
            vec![zigzag(n, 3.0, 7.0, width)],
            false,
        )))
        .unwrap();
        let (top, bottom) = plot_rows(&img);
        let row = |v: f64| bottom - v / 10.0 * (bottom - top);
        let (bx0, bx1) = span(matching(&img, is_blue).into_iter().map(|p| p.0));
        let slack = f64::from(width) / 2.0 + 1.5;
        let red = matching(&img, is_red);
        assert!(
            red.len() > 1000,
            "zigzag not drawn: {} red pixels",
            red.len()
        );
        let stray: Vec<_> = red
            .iter()
            .filter(|&&(x, y)| {
                let y = f64::from(y);
                y < row(7.0) - slack || y > row(3.0) + slack || x < bx0 || x > bx1
            })
            .collect();
        assert!(
            stray.is_empty(),
            "n = {n}, width = {width}: {} red pixels outside rows {:.0}..{:.0} / columns {bx0}..{bx1}, e.g. {:?}",
            stray.len(),
            row(7.0) - slack,
            row(3.0) + slack,
            &stray[..stray.len().min(5)]
        );
    }
}

/// `(stroke colour, point count)` of every SVG polyline.
fn svg_polylines(svg: &str) -> Vec<(String, usize)> {
    svg.split("<polyline")
        .skip(1)
        .map(|chunk| {
            let attr = |name: &str| -> String {
                let key = format!(" {name}=\"");
                let from = chunk.find(&key).map_or(0, |i| i + key.len());
                chunk[from..][..chunk[from..].find('"').unwrap_or(0)].to_string()
            };
            (attr("stroke"), attr("points").split_whitespace().count())
        })
        .collect()
}

#[test]
fn dense_series_are_decimated_but_keep_extremes_and_gaps() {
    let mut rng = Lcg(5);
    let n = 4000;
    let x: Vec<f64> = (0..n).map(|i| 10.0 * i as f64 / (n - 1) as f64).collect();
    let mut y: Vec<f64> = (0..n).map(|_| 2.5 + 5.0 * rng.next()).collect();
    y[100] = 1.0; // lowest
    y[3000] = 9.0; // highest
    for v in &mut y[1800..2200] {
        *v = f64::NAN; // x from 4.5 to 5.5
    }
    let fig = one_panel(calibrated(vec![Series::new("noise", x, y, RED)], false));

    let img = render_rgb(&fig).unwrap();
    let (top, bottom) = plot_rows(&img);
    let row = |v: f64| bottom - v / 10.0 * (bottom - top);
    let (bx0, bx1) = span(matching(&img, is_blue).into_iter().map(|p| p.0));
    let col = |v: f64| f64::from(bx0) + v / 10.0 * f64::from(bx1 - bx0);
    let red = matching(&img, is_red);
    let (y0, y1) = span(red.iter().map(|p| p.1));
    assert!(
        (f64::from(y0) - row(9.0)).abs() <= 2.0 && (f64::from(y1) - row(1.0)).abs() <= 2.0,
        "red rows {y0}..{y1}, the extremes lie at rows {:.0} and {:.0}",
        row(9.0),
        row(1.0)
    );
    let in_gap = red
        .iter()
        .filter(|p| f64::from(p.0) > col(4.55) && f64::from(p.0) < col(5.45))
        .count();
    assert_eq!(in_gap, 0, "red pixels inside the NaN gap");

    let dir = tempfile::tempdir().unwrap();
    let files = render(&fig, &dir.path().join("dense")).unwrap();
    let svg = fs::read_to_string(&files.svg).unwrap();
    let red_lines: Vec<usize> = svg_polylines(&svg)
        .into_iter()
        .filter(|(stroke, _)| stroke == "#FF0000")
        .map(|(_, count)| count)
        .collect();
    assert_eq!(
        red_lines.len(),
        2,
        "the gap must split the curve: {red_lines:?}"
    );
    let columns = (bx1 - bx0 + 1) as usize;
    let points: usize = red_lines.iter().sum();
    assert!(
        points <= 4 * columns && points > columns,
        "{points} SVG points for {columns} pixel columns"
    );
    assert!(svg.len() < 120_000, "SVG has {} bytes", svg.len());
    assert!(
        svg.contains("stroke-linejoin=\"round\""),
        "thick SVG lines need round joins"
    );
}

/// Width in pixels of the plot rectangle, from the blue edge lines.
fn plot_width(img: &RgbImage) -> u32 {
    let (x0, x1) = span(matching(img, is_blue).into_iter().map(|p| p.0));
    x1 - x0
}

#[test]
fn best_legend_leaves_crowded_plots() {
    // Twelve noisy series filling the whole plot: every corner would hide data.
    let mut rng = Lcg(9);
    let x: Vec<f64> = (0..200).map(|i| f64::from(i) / 20.0).collect();
    let crowded: Vec<Series> = (0..12)
        .map(|k| {
            let y = x.iter().map(|_| 10.0 * rng.next()).collect();
            Series::new(format!("DI (Tr, α={k})"), x.clone(), y, palette::pick(k)).with_width(1)
        })
        .collect();
    let mut panel = calibrated(crowded.clone(), false);
    let bare = render_rgb(&one_panel(panel.clone())).unwrap();
    panel.legend = LegendPos::Best;
    let best = render_rgb(&one_panel(panel.clone())).unwrap();
    let (w0, w1) = (plot_width(&bare), plot_width(&best));
    assert!(
        w1 + 80 < w0,
        "legend not moved outside: plot {w1} px wide vs {w0}"
    );
    // The compact outside legend takes less room than the normal one.
    panel.legend = LegendPos::Outside;
    let outside = render_rgb(&one_panel(panel.clone())).unwrap();
    assert!(
        plot_width(&outside) < w1,
        "{} vs {w1}",
        plot_width(&outside)
    );

    // Three curves in the lower half leave the upper corners free.
    let calm: Vec<Series> = (0..3)
        .map(|k| flat(&format!("level {k}"), 1.0 + k as f64, palette::pick(k), 2))
        .collect();
    let mut panel = calibrated(calm, false);
    let bare = render_rgb(&one_panel(panel.clone())).unwrap();
    panel.legend = LegendPos::Best;
    let best = render_rgb(&one_panel(panel)).unwrap();
    assert_eq!(
        plot_width(&best),
        plot_width(&bare),
        "legend left a free plot"
    );

    // SVG text is laid out by the viewer: the label is there verbatim.
    let dir = tempfile::tempdir().unwrap();
    let mut panel = calibrated(crowded, false);
    panel.legend = LegendPos::Best;
    let files = render(&one_panel(panel), &dir.path().join("legend")).unwrap();
    let texts = svg_texts(&fs::read_to_string(files.svg).unwrap());
    assert!(texts.iter().any(|t| t == "DI (Tr, α=0)"), "{texts:?}");
}

/// Noisy angles like the ones that showed spikes, and a crowded legend; set
/// `DINV_FIGURES_KEEP=<folder>` to look at `noisy.png`.
fn noisy_figure() -> Figure {
    let mut rng = Lcg(42);
    let x = epochs(300);
    let labels = [
        "DI (Tr, α=0)",
        "DI (Tr, α=0.001)",
        "DI (Tr, α=0.01)",
        "DI (R, α=0.01)",
    ];
    let angles: Vec<Series> = labels
        .iter()
        .enumerate()
        .map(|(k, label)| {
            let y = x
                .iter()
                .map(|t| {
                    let jump = if rng.next() < 0.2 {
                        90.0 * rng.next()
                    } else {
                        0.0
                    };
                    (10.0 + 30.0 * (-t / 40.0).exp() + 15.0 * rng.next() + jump).min(90.0)
                })
                .collect();
            Series::new(*label, x.clone(), y, palette::pick(k))
        })
        .collect();
    let angle_panel = LinePanel {
        title: "f: angle δ_DI vs δ_PBP".into(),
        x: Axis::linear("examples").with_range(0.0, 500.0),
        y: Axis::linear("angle (degrees)").with_range(0.0, 90.0),
        series: angles,
        legend: LegendPos::Best,
        ..LinePanel::default()
    };
    let names = ["BP", "FA", "PBP"].into_iter().map(String::from).chain(
        ["NDI", "DI"].into_iter().flat_map(|m| {
            ["Tr, α=0", "Tr, α=0.001", "Tr, α=0.01", "R, α=0.01"]
                .into_iter()
                .map(move |v| format!("{m} ({v})"))
        }),
    );
    let errors: Vec<Series> = names
        .enumerate()
        .map(|(k, name)| {
            let rate = 0.005 + 0.001 * k as f64;
            let y = x
                .iter()
                .map(|t| (-rate * t).exp() * (1.0 + 0.1 * rng.next()))
                .collect();
            let s = Series::new(name, x.clone(), y, palette::pick(k));
            if (3..7).contains(&k) {
                s.with_style(LineStyle::Dashed)
            } else {
                s
            }
        })
        .collect();
    let error_panel = LinePanel {
        title: "a: linear regression".into(),
        x: Axis::linear("examples"),
        y: Axis::log10("normalised squared error"),
        series: errors,
        legend: LegendPos::Best,
        ..LinePanel::default()
    };
    Figure::new(
        (1, 2),
        vec![Panel::Lines(error_panel), Panel::Lines(angle_panel)],
    )
    .with_title("Trends: noisy angles")
}

#[test]
fn noisy_figure_stays_inside_its_frames() {
    let fig = noisy_figure();
    let img = render_rgb(&fig).unwrap();
    // Nothing but black/grey ink may appear in the figure title strip: no spikes.
    let title_strip = (0..30u32).flat_map(|y| (0..img.width).map(move |x| (x, y)));
    let coloured: Vec<_> = title_strip
        .filter(|&(x, y)| {
            let c = img.pixel(x, y);
            c.0.abs_diff(c.1) > 40 || c.1.abs_diff(c.2) > 40 || c.0.abs_diff(c.2) > 40
        })
        .collect();
    assert!(
        coloured.is_empty(),
        "coloured pixels in the title strip: {coloured:?}"
    );
    if let Ok(keep) = std::env::var("DINV_FIGURES_KEEP") {
        render(&fig, &Path::new(&keep).join("noisy")).unwrap();
    }
}
