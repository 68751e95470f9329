//! The plain data a figure is made of: what to draw, never how it was computed.
//!
//! Every type here is a passive value. Callers build them from analysed data (medians,
//! quartiles, embeddings, reconstructions); the renderer only validates and draws them.

/// An opaque 8-bit sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    pub const WHITE: Rgb = Rgb(255, 255, 255);
    /// The grey used for reference lines and other non-data ink.
    pub const GREY: Rgb = Rgb(110, 110, 110);
}

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LineStyle {
    #[default]
    Solid,
    Dashed,
    Dotted,
}

/// One curve of a line panel. `x` and `y` must have the same length; non-finite
/// points (and, on a log axis, non-positive ones) split the curve instead of joining
/// across the gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text; an empty label keeps the series out of the legend.
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub color: Rgb,
    pub style: LineStyle,
    /// Stroke width in pixels (at least 1).
    pub width: u32,
    /// 0 = invisible, 1 = opaque.
    pub opacity: f64,
}

impl Series {
    /// A solid, opaque, 2-px line.
    pub fn new(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>, color: Rgb) -> Self {
        Self {
            label: label.into(),
            x,
            y,
            color,
            style: LineStyle::Solid,
            width: 2,
            opacity: 1.0,
        }
    }

    pub fn with_style(mut self, style: LineStyle) -> Self {
        self.style = style;
        self
    }

    pub fn with_width(mut self, width: u32) -> Self {
        self.width = width;
        self
    }

    pub fn with_opacity(mut self, opacity: f64) -> Self {
        self.opacity = opacity;
        self
    }
}

/// A shaded band between lo and hi (for median + interquartile range across seeds).
/// Points where x, lo or hi is not finite split the band.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub x: Vec<f64>,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    pub color: Rgb,
    pub opacity: f64,
}

impl Band {
    /// A band with the usual 25 % opacity, so the line drawn over it stays visible.
    pub fn new(x: Vec<f64>, lo: Vec<f64>, hi: Vec<f64>, color: Rgb) -> Self {
        Self {
            x,
            lo,
            hi,
            color,
            opacity: 0.25,
        }
    }
}

/// How data values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scale {
    #[default]
    Linear,
    /// Decades are equally spaced; values ≤ 0 cannot be shown and are skipped.
    Log10,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
    /// Fixed `(min, max)` in data units; `None` fits the finite data with a small margin.
    pub range: Option<(f64, f64)>,
}

impl Axis {
    pub fn linear(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Linear,
            range: None,
        }
    }

    pub fn log10(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Log10,
            range: None,
        }
    }

    pub fn with_range(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }
}

/// Where a panel's legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LegendPos {
    /// No legend.
    None,
    UpperRight,
    UpperLeft,
    LowerLeft,
    LowerRight,
    /// The inside corner that hides the least data. When even the best corner would
    /// hide more than 2 % of the drawn curves, a compact legend (smaller text) is
    /// tried, and if that hides too much as well it goes [`LegendPos::Outside`].
    #[default]
    Best,
    /// To the right of the plot area, which shrinks to make room.
    Outside,
}

/// Curves (with optional shaded bands and horizontal reference lines) on x/y axes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinePanel {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// Drawn under the series.
    pub bands: Vec<Band>,
    /// Horizontal reference lines at the given y (e.g. 0 for eigenvalues, 45 for degrees).
    pub hlines: Vec<(f64, LineStyle)>,
    pub legend: LegendPos,
}

/// Points coloured by class (e.g. a t-SNE embedding of hidden activity), with the
/// class names in a legend beside the plot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScatterPanel {
    pub title: String,
    /// `(x, y, class)`; non-finite points are skipped.
    pub points: Vec<(f64, f64, usize)>,
    /// Legend text of class `k` is `class_names[k]` (the number `k` if missing).
    pub class_names: Vec<String>,
    /// Colour of class `k` is `palette[k]`; empty means [`crate::palette::categorical`].
    pub palette: Vec<Rgb>,
    /// Marker radius in pixels.
    pub point_size: u32,
}

/// A grid of grey-scale images (e.g. 2 rows of 10 MNIST digits: inputs above reconstructions).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageGridPanel {
    pub title: String,
    pub rows: usize,
    pub cols: usize,
    pub image_h: usize,
    pub image_w: usize,
    /// One image per cell, row-major, each `image_h * image_w` values stored row-major.
    /// Fewer images than cells leave the last cells empty.
    pub pixels: Vec<Vec<f64>>,
    /// `(black, white)`: values are mapped linearly to grey and clamped; pass
    /// `(1.0, 0.0)` for dark ink on white. Non-finite values are drawn in red.
    pub value_range: (f64, f64),
    /// Text to the left of each row (may be shorter than `rows`, or empty).
    pub row_labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Panel {
    Lines(LinePanel),
    Scatter(ScatterPanel),
    Images(ImageGridPanel),
}

/// Panels on a regular grid. The image is exactly `cols * panel_size.0` by
/// `rows * panel_size.1` pixels; a figure title takes its strip from the panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub title: Option<String>,
    /// `(rows, cols)`.
    pub grid: (usize, usize),
    /// Row-major; fewer panels than cells leaves cells empty.
    pub panels: Vec<Panel>,
    /// `(width, height)` of one cell in pixels.
    pub panel_size: (u32, u32),
}

impl Figure {
    /// The default cell size, readable in a PNG at 100 % zoom.
    pub const DEFAULT_PANEL_SIZE: (u32, u32) = (480, 360);

    /// A figure with no title and the default panel size.
    pub fn new(grid: (usize, usize), panels: Vec<Panel>) -> Self {
        Self {
            title: None,
            grid,
            panels,
            panel_size: Self::DEFAULT_PANEL_SIZE,
        }
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// `(width, height)` of the whole image in pixels (saturating, so validation can
    /// reject absurd sizes instead of overflowing).
    pub fn size_px(&self) -> (u32, u32) {
        let (rows, cols) = self.grid;
        let w = u32::try_from(cols)
            .unwrap_or(u32::MAX)
            .saturating_mul(self.panel_size.0);
        let h = u32::try_from(rows)
            .unwrap_or(u32::MAX)
            .saturating_mul(self.panel_size.1);
        (w, h)
    }
}

/// Paths of the files written by [`crate::render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFiles {
    pub png: std::path::PathBuf,
    pub svg: std::path::PathBuf,
}

/// An 8-bit RGB raster, row-major, 3 bytes per pixel (what the PNG will contain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// The colour at column `x`, row `y` (row 0 at the top). Panics when out of bounds.
    pub fn pixel(&self, x: u32, y: u32) -> Rgb {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside image"
        );
        let i = 3 * (y as usize * self.width as usize + x as usize);
        Rgb(self.data[i], self.data[i + 1], self.data[i + 2])
    }
}
