//! What a line panel holds: curves, bands, reference lines, event marks, points with
//! error bars, an inset, and the axes they are drawn on.

use super::Rgb;

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LineStyle {
    #[default]
    Solid,
    Dashed,
    Dotted,
}

/// A marker shape. Filled shapes get a thin white rim, so a marker stays visible on
/// top of lines of any colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Marker {
    #[default]
    None,
    Circle,
    Square,
    TriangleUp,
    TriangleDown,
    Diamond,
    /// A diagonal cross (×), stroked.
    Cross,
    /// An upright cross (+), stroked.
    Plus,
}

impl Marker {
    /// The shapes in an order that keeps neighbours easy to tell apart.
    pub const DISTINCT: [Marker; 7] = [
        Marker::Circle,
        Marker::Square,
        Marker::TriangleUp,
        Marker::Diamond,
        Marker::TriangleDown,
        Marker::Cross,
        Marker::Plus,
    ];

    /// Shape `i` of [`Marker::DISTINCT`], cycling.
    pub fn pick(i: usize) -> Marker {
        Marker::DISTINCT[i % Marker::DISTINCT.len()]
    }
}

/// One curve of a line panel. `x` and `y` must have the same length; non-finite
/// points split the curve instead of joining across the gap. On a log axis,
/// non-positive values cannot be shown: they split the curve too and get a clip mark
/// at the bottom edge (they lie below any log range).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text (may use the markup of the crate documentation); an empty label
    /// keeps the series out of the legend.
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub color: Rgb,
    pub style: LineStyle,
    /// Stroke width in pixels (at least 1).
    pub width: u32,
    /// 0 = invisible, 1 = opaque.
    pub opacity: f64,
    /// Shape drawn on the curve every [`Series::marker_every`] points (and on its
    /// legend sample); [`Marker::None`] draws none.
    pub marker: Marker,
    /// Half the marker's extent in pixels (its "radius").
    pub marker_size: u32,
    /// A marker on every k-th point; 0 chooses k so that about ten markers are drawn.
    pub marker_every: usize,
    /// Where the markers start within their spacing, as a fraction in [0, 1): the
    /// first marker sits on point `floor(phase * k)`. Two curves lying on top of each
    /// other with phases 0 and 0.5 show their markers alternately.
    pub marker_phase: f64,
    /// Extra text after the label in the legend, in smaller type (e.g. "identical to
    /// NDI within 1e-4°").
    pub legend_note: Option<String>,
}

impl Series {
    /// A solid, opaque, 2-px line without markers.
    pub fn new(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>, color: Rgb) -> Self {
        Self {
            label: label.into(),
            x,
            y,
            color,
            style: LineStyle::Solid,
            width: 2,
            opacity: 1.0,
            marker: Marker::None,
            marker_size: 4,
            marker_every: 0,
            marker_phase: 0.0,
            legend_note: None,
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

    /// Markers of `shape`, `size` pixels in radius.
    pub fn with_marker(mut self, shape: Marker, size: u32) -> Self {
        self.marker = shape;
        self.marker_size = size;
        self
    }

    /// A marker on every `every`-th point (0: about ten markers), starting at the
    /// fraction `phase` of that spacing.
    pub fn with_marker_spacing(mut self, every: usize, phase: f64) -> Self {
        self.marker_every = every;
        self.marker_phase = phase;
        self
    }

    pub fn with_legend_note(mut self, note: impl Into<String>) -> Self {
        self.legend_note = Some(note.into());
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

/// Something that happened at one x: a marker at `(x, y)`, or a short tick at the
/// bottom of the plot when `y` is `None` (e.g. a re-stabilisation, drawn at the spectral
/// abscissa it corrected, which may lie above the curve).
#[derive(Debug, Clone, PartialEq)]
pub struct EventMark {
    pub x: f64,
    pub y: Option<f64>,
    pub color: Rgb,
    /// The marker shape when `y` is given ([`Marker::None`] draws a circle).
    pub shape: Marker,
    /// Legend text; events sharing a label share one legend entry. Empty: no entry.
    pub label: String,
}

impl EventMark {
    /// Radius of event markers and length of event ticks, in pixels.
    pub const SIZE: u32 = 5;

    /// A circle at `(x, y)`.
    pub fn at(x: f64, y: f64, color: Rgb) -> Self {
        Self {
            x,
            y: Some(y),
            color,
            shape: Marker::Circle,
            label: String::new(),
        }
    }

    /// A tick at the bottom edge of the plot, at `x`.
    pub fn tick(x: f64, color: Rgb) -> Self {
        Self {
            x,
            y: None,
            color,
            shape: Marker::None,
            label: String::new(),
        }
    }

    pub fn with_shape(mut self, shape: Marker) -> Self {
        self.shape = shape;
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

/// Points with vertical error bars from `lo` to `hi`, not joined by lines: for a few
/// checkpoints, where lines between them would suggest values in between.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSeries {
    /// Legend text (markup allowed); empty keeps the points out of the legend.
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Whisker ends, as long as `x` (a non-finite end draws no whisker at that point),
    /// or both empty for no whiskers.
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    pub color: Rgb,
    /// [`Marker::None`] draws circles.
    pub marker: Marker,
    /// Marker radius in pixels.
    pub size: u32,
}

impl PointSeries {
    /// Circles of radius 4 without whiskers.
    pub fn new(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>, color: Rgb) -> Self {
        Self {
            label: label.into(),
            x,
            y,
            lo: vec![],
            hi: vec![],
            color,
            marker: Marker::Circle,
            size: 4,
        }
    }

    /// Whiskers from `lo` to `hi`.
    pub fn with_whiskers(mut self, lo: Vec<f64>, hi: Vec<f64>) -> Self {
        self.lo = lo;
        self.hi = hi;
        self
    }

    pub fn with_marker(mut self, marker: Marker, size: u32) -> Self {
        self.marker = marker;
        self.size = size;
        self
    }
}

/// How data values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scale {
    #[default]
    Linear,
    /// Decades are equally spaced; values ≤ 0 cannot be shown (see [`Series`]).
    Log10,
}

/// How an axis says that its fixed range does not start at zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum RangeNote {
    #[default]
    None,
    /// A break mark (two short slanted strokes) across the axis line near its start.
    Break,
    /// The axis label gets "(axis starts at 45°)", from the range start and `unit`.
    StartsAt { unit: String },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Axis {
    /// Axis title (markup allowed).
    pub label: String,
    pub scale: Scale,
    /// Fixed `(min, max)` in data units; `None` fits the finite data with a small
    /// margin. Data outside a fixed range get clip marks at the edge they leave by.
    pub range: Option<(f64, f64)>,
    /// Drawn only when `range` is fixed and does not start at zero.
    pub range_note: RangeNote,
}

impl Axis {
    pub fn linear(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Linear,
            range: None,
            range_note: RangeNote::None,
        }
    }

    pub fn log10(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Log10,
            range: None,
            range_note: RangeNote::None,
        }
    }

    pub fn with_range(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }

    pub fn with_range_note(mut self, note: RangeNote) -> Self {
        self.range_note = note;
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

/// A corner of the plot area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Corner {
    #[default]
    UpperRight,
    UpperLeft,
    LowerLeft,
    LowerRight,
}

/// Where an inset sits, in fractions of the main plot area (0 = left/top, 1 =
/// right/bottom). The box holds the inset's own axes and tick labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InsetPlace {
    /// `width` x `height` in a corner, a few pixels in from the frame.
    Corner {
        corner: Corner,
        width: f64,
        height: f64,
    },
    /// Any box inside the plot area.
    Rect {
        left: f64,
        top: f64,
        width: f64,
        height: f64,
    },
}

/// A small line panel inside another one (e.g. the first 100 examples of a
/// 2000-example run), with its own axes in small type on a white, framed box. The
/// main legend avoids it. Insets do not nest.
#[derive(Debug, Clone, PartialEq)]
pub struct Inset {
    pub panel: LinePanel,
    pub place: InsetPlace,
}

impl Inset {
    /// An inset taking `width` x `height` of the plot area in `corner`.
    pub fn corner(panel: LinePanel, corner: Corner, width: f64, height: f64) -> Self {
        Self {
            panel,
            place: InsetPlace::Corner {
                corner,
                width,
                height,
            },
        }
    }
}

/// Curves (with optional shaded bands and horizontal reference lines), event marks and
/// points with error bars on x/y axes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinePanel {
    /// Panel title (markup allowed).
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// Drawn under the series.
    pub bands: Vec<Band>,
    /// Horizontal reference lines at the given y (e.g. 0 for eigenvalues, 45 for degrees).
    pub hlines: Vec<(f64, LineStyle)>,
    pub legend: LegendPos,
    /// Drawn over the curves.
    pub events: Vec<EventMark>,
    /// Drawn over the curves and events.
    pub points: Vec<PointSeries>,
    /// Horizontal distance in pixels between point series at the same x: series `k`
    /// of `n` moves by `(k - (n - 1) / 2) * point_dodge`, so they do not overlap.
    pub point_dodge: u32,
    pub inset: Option<Box<Inset>>,
}
