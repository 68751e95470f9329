//! The plain data a figure is made of: what to draw, never how it was computed.
//!
//! Every type here is a passive value. Callers build them from analysed data (medians,
//! quartiles, embeddings, reconstructions); the renderer only validates and draws them.
//! Line panels and their parts are in [`line`].

mod line;

pub use line::{
    Axis, Band, Corner, EventMark, Inset, InsetPlace, LegendPos, LinePanel, LineStyle, Marker,
    PointSeries, RangeNote, Scale, Series,
};

/// An opaque 8-bit sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    pub const WHITE: Rgb = Rgb(255, 255, 255);
    /// The grey used for reference lines and other non-data ink.
    pub const GREY: Rgb = Rgb(110, 110, 110);
}

/// Points coloured by class (e.g. a t-SNE embedding of hidden activity), with the
/// class names in a legend beside the plot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScatterPanel {
    /// Panel title (markup allowed, as are the class names).
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
    /// Panel title (markup allowed, as are the row labels).
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

/// Where a figure's shared legend goes: one legend listing every labelled series,
/// point series and event of all line panels (each label once, in order of first
/// appearance), for small multiples. The panels' own legends are then not drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SharedLegend {
    /// Each panel keeps its own legend.
    #[default]
    None,
    /// In a strip below the grid, taken from the panels' height (like the title),
    /// entries side by side in as many columns as fit.
    Below,
    /// In the first grid cell left free by the panels.
    Cell,
}

/// Panels on a regular grid. The image is exactly `cols * panel_size.0` by
/// `rows * panel_size.1` pixels; a figure title (and a shared legend below the grid)
/// takes its strip from the panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Figure title (markup allowed).
    pub title: Option<String>,
    /// `(rows, cols)`.
    pub grid: (usize, usize),
    /// Placed row by row; a panel spanning more columns than its row has left starts
    /// the next row. Cells left over stay empty.
    pub panels: Vec<Panel>,
    /// `(width, height)` of one cell in pixels.
    pub panel_size: (u32, u32),
    /// How many columns each panel spans (at least 1); panels beyond the list span one.
    pub spans: Vec<usize>,
    pub legend: SharedLegend,
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
            spans: Vec::new(),
            legend: SharedLegend::None,
        }
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Column spans of the panels, in order (see [`Figure::spans`]).
    pub fn with_spans(mut self, spans: Vec<usize>) -> Self {
        self.spans = spans;
        self
    }

    pub fn with_shared_legend(mut self, place: SharedLegend) -> Self {
        self.legend = place;
        self
    }

    /// The column span of panel `index`.
    pub fn span(&self, index: usize) -> usize {
        self.spans.get(index).copied().unwrap_or(1)
    }

    /// `(row, first column)` of each panel, or `None` for panels that do not fit the
    /// grid (validation reports them).
    pub fn cells(&self) -> Vec<Option<(usize, usize)>> {
        let (rows, cols) = self.grid;
        let (mut row, mut col) = (0, 0);
        (0..self.panels.len())
            .map(|i| {
                let span = self.span(i).max(1);
                if col + span > cols {
                    row += 1;
                    col = 0;
                }
                if row >= rows || span > cols {
                    return None;
                }
                let at = (row, col);
                col += span;
                Some(at)
            })
            .collect()
    }

    /// The first cell no panel covers, row-major (where [`SharedLegend::Cell`] goes).
    pub fn free_cell(&self) -> Option<(usize, usize)> {
        let (rows, cols) = self.grid;
        let taken: Vec<(usize, usize)> = self
            .cells()
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|(r, c0)| (0..self.span(i)).map(move |k| (r, c0 + k))))
            .flatten()
            .collect();
        (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .find(|cell| !taken.contains(cell))
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
