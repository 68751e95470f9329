//! What can go wrong when rendering, always naming the figure and the cause.

use std::path::PathBuf;

/// A figure could not be rendered or written. `target` is the output stem (or file)
/// the caller asked for, so a failing batch of figures says which one broke.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error("cannot render figure {}: {problem}", target.display())]
    Invalid { target: PathBuf, problem: Problem },

    #[error(
        "cannot write figure {}: output folder {} does not exist or is not a folder (create it first)",
        target.display(),
        dir.display()
    )]
    OutputDir { target: PathBuf, dir: PathBuf },

    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("plotters could not draw {}: {message}", target.display())]
    Draw { target: PathBuf, message: String },
}

/// Why a [`crate::Figure`] is not drawable. Panels are counted from 0, row-major.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("the figure has no panels")]
    NoPanels,
    #[error("the grid {rows}x{cols} has no cells")]
    EmptyGrid { rows: usize, cols: usize },
    #[error("panel {index} lies beyond the {rows}x{cols} grid ({panels} panels for {} cells)", rows * cols)]
    PanelOutsideGrid {
        index: usize,
        panels: usize,
        rows: usize,
        cols: usize,
    },
    #[error("panel {index} spans {span} columns; the grid has {cols} (a span is 1 to {cols})")]
    Span {
        index: usize,
        span: usize,
        cols: usize,
    },
    #[error("the shared legend goes in a free cell, but the panels fill the {rows}x{cols} grid")]
    NoCellForLegend { rows: usize, cols: usize },
    #[error("panel size {w}x{h} px is too small (at least {min_w}x{min_h})")]
    PanelTooSmall {
        w: u32,
        h: u32,
        min_w: u32,
        min_h: u32,
    },
    #[error("image size {w}x{h} px is too large (at most {max} px a side)")]
    ImageTooLarge { w: u32, h: u32, max: u32 },
    #[error("panel {panel}: the series list is empty (a line panel needs at least one series or point series)")]
    EmptySeries { panel: usize },
    #[error("panel {panel}, series {label:?}: x has {x} values but y has {y}")]
    SeriesLength {
        panel: usize,
        label: String,
        x: usize,
        y: usize,
    },
    #[error("panel {panel}, series {label:?}: width must be at least 1 px")]
    ZeroWidth { panel: usize, label: String },
    #[error("panel {panel}, band {band}: x, lo and hi have {x}, {lo} and {hi} values")]
    BandLength {
        panel: usize,
        band: usize,
        x: usize,
        lo: usize,
        hi: usize,
    },
    #[error("panel {panel}: {what} opacity {value} is not in [0, 1]")]
    Opacity {
        panel: usize,
        what: String,
        value: f64,
    },
    #[error("panel {panel}: {axis} range ({lo}, {hi}) must be finite with min < max{}", if *log { " and min > 0 on a log axis" } else { "" })]
    AxisRange {
        panel: usize,
        axis: &'static str,
        lo: f64,
        hi: f64,
        log: bool,
    },
    #[error("panel {panel}: {what} has markers of size 0 (at least 1 px)")]
    ZeroMarkerSize { panel: usize, what: String },
    #[error("panel {panel}, series {label:?}: marker phase {phase} is not in [0, 1)")]
    MarkerPhase {
        panel: usize,
        label: String,
        phase: f64,
    },
    #[error("panel {panel}, event {event}: position ({x}, {y:?}) must be finite")]
    EventPosition {
        panel: usize,
        event: usize,
        x: f64,
        y: Option<f64>,
    },
    #[error("panel {panel}, point series {label:?}: x, y, lo and hi have {x}, {y}, {lo} and {hi} values (lo and hi as many as x, or both empty)")]
    PointsLength {
        panel: usize,
        label: String,
        x: usize,
        y: usize,
        lo: usize,
        hi: usize,
    },
    #[error("panel {panel}: inset box (left {left}, top {top}, width {width}, height {height}) must lie inside the plot area, in fractions of it")]
    InsetPlace {
        panel: usize,
        left: f64,
        top: f64,
        width: f64,
        height: f64,
    },
    #[error("panel {panel}: an inset cannot hold another inset")]
    NestedInset { panel: usize },
    #[error("panel {panel}, inset: {problem}")]
    InInset { panel: usize, problem: Box<Problem> },
    #[error("panel {panel}: the scatter has no points")]
    NoPoints { panel: usize },
    #[error("panel {panel}: class {class} has no colour (the palette has {palette} colours)")]
    ClassWithoutColour {
        panel: usize,
        class: usize,
        palette: usize,
    },
    #[error("panel {panel}: point size must be at least 1 px")]
    ZeroPointSize { panel: usize },
    #[error("panel {panel}: the image grid has no images")]
    NoImages { panel: usize },
    #[error("panel {panel}: {images} images do not fit a {rows}x{cols} grid")]
    TooManyImages {
        panel: usize,
        images: usize,
        rows: usize,
        cols: usize,
    },
    #[error("panel {panel}: image shape {h}x{w} must be at least 1x1")]
    ImageShape { panel: usize, h: usize, w: usize },
    #[error("panel {panel}: image {image} has {len} values, expected {h}x{w} = {}", h * w)]
    ImageLength {
        panel: usize,
        image: usize,
        len: usize,
        h: usize,
        w: usize,
    },
    #[error("panel {panel}: value range ({lo}, {hi}) must be finite with two different ends")]
    ValueRange { panel: usize, lo: f64, hi: f64 },
    #[error("panel {panel}: {labels} row labels for {rows} rows")]
    TooManyRowLabels {
        panel: usize,
        labels: usize,
        rows: usize,
    },
}
