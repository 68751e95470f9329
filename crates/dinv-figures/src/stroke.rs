//! Stroking curves in pixel space: thinning dense curves per pixel column, cutting dash
//! patterns, and rasterising thick lines without spikes.
//!
//! plotters 0.3.7 turns a thick polyline into a single polygon with miter joins. At the
//! near-reversals of noisy data (an angle flipping between 0 and 90 every step) the
//! offset edges meet far from the curve, and the filled polygon shoots long thin
//! spikes through the axes and the title. In the bitmap, thick curves are therefore
//! rasterised here: a pixel is inked when its centre lies within half the width of a
//! segment (butt ends) or of an interior vertex (round joins), and only inside the plot
//! rectangle. Each pixel is painted once per curve, so translucent curves show no darker
//! knots. Thin curves keep plotters' cheap one-pixel lines; in SVG the viewer strokes
//! the polyline and `crate::draw_svg` asks it for round joins.

use plotters::coord::Shift;
use plotters::element::PathElement;
use plotters::prelude::*;
use plotters::style::RGBAColor;

use crate::geometry::PxRect;
use crate::model::LineStyle;
use crate::style::{self, DrawError};

/// A pixel position in the coordinates of the drawing area.
pub(crate) type Px = (i32, i32);
type PxF = (f64, f64);

/// What kind of image is being drawn, which decides how thick curves are stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A bitmap: thick curves are rasterised by [`Mask`].
    Raster,
    /// An SVG: curves stay polylines, stroked by the viewer.
    Vector,
}

/// Whether a pixel polyline has so many more points than pixel columns that
/// [`decimate`] is worth running.
pub(crate) fn is_dense(line: &[Px]) -> bool {
    let (lo, hi) = line.iter().fold((i32::MAX, i32::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let columns = i64::from(hi) - i64::from(lo) + 1;
    line.len() as i64 > 2 * columns.max(1)
}

/// Min/max decimation of a pixel polyline: of every run of consecutive points in the
/// same pixel column, keeps the first, the last, the highest and the lowest, in their
/// original order, and drops repeated points. The stroked picture is unchanged (the
/// kept points span the same pixels in each column and join the columns alike), but
/// no column holds more than four points.
pub(crate) fn decimate(line: &[Px]) -> Vec<Px> {
    let mut out: Vec<Px> = Vec::with_capacity(line.len().min(1024));
    let mut start = 0;
    while start < line.len() {
        let column = line[start].0;
        let len = line[start..]
            .iter()
            .position(|p| p.0 != column)
            .unwrap_or(line.len() - start);
        let group = &line[start..start + len];
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in group.iter().enumerate() {
            if p.1 < group[lo].1 {
                lo = i;
            }
            if p.1 > group[hi].1 {
                hi = i;
            }
        }
        let mut keep = [0, lo, hi, len - 1];
        keep.sort_unstable();
        for k in keep {
            if out.last() != Some(&group[k]) {
                out.push(group[k]);
            }
        }
        start += len;
    }
    out
}

/// The dashes of a `(dash, gap)` pattern (in pixels) along a polyline. The pattern runs
/// on across vertices, so dense curves still look dashed.
fn dashes(line: &[PxF], dash: f64, gap: f64) -> Vec<Vec<PxF>> {
    let mut out = vec![];
    let Some(&first) = line.first() else {
        return out;
    };
    let (mut on, mut left) = (true, dash);
    let mut current = vec![first];
    for w in line.windows(2) {
        let (mut a, b) = (w[0], w[1]);
        loop {
            let d = (b.0 - a.0).hypot(b.1 - a.1);
            if d <= left {
                left -= d;
                if on {
                    current.push(b);
                }
                break;
            }
            let t = left / d;
            let cut = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
            // A dash ends at the cut, or the next one starts there.
            current.push(cut);
            if on {
                out.push(std::mem::take(&mut current));
            }
            on = !on;
            left = if on { dash } else { gap };
            a = cut;
        }
    }
    if on && current.len() >= 2 {
        out.push(current);
    }
    out
}

/// The pixels of thick strokes inside a clip rectangle, painted in one go.
pub(crate) struct Mask {
    clip: PxRect,
    width: usize,
    inked: Vec<bool>,
}

/// Tolerance for pixel centres exactly on a stroke's edge.
const EDGE: f64 = 1e-9;

impl Mask {
    /// An empty mask over `clip` (`(left, top, right, bottom)`, right/bottom exclusive).
    pub fn new(clip: PxRect) -> Self {
        let width = (clip.2 - clip.0).max(0) as usize;
        let height = (clip.3 - clip.1).max(0) as usize;
        Mask {
            clip,
            width,
            inked: vec![false; width * height],
        }
    }

    /// Whether the pixel at `(x, y)` is inked (false outside the clip rectangle).
    #[cfg(test)]
    fn get(&self, x: i32, y: i32) -> bool {
        let (l, t, r, b) = self.clip;
        x >= l
            && x < r
            && y >= t
            && y < b
            && self.inked[(y - t) as usize * self.width + (x - l) as usize]
    }

    /// Adds a polyline stroked `width` pixels wide: butt ends, round joins. Pixel
    /// centres sit at integer coordinates for odd widths and half a pixel further for
    /// even widths, so a horizontal line is exactly `width` rows thick.
    pub fn stroke(&mut self, line: &[PxF], width: u32) {
        let r = f64::from(width.max(1)) / 2.0;
        let o = if width % 2 == 1 { 0.0 } else { 0.5 };
        let mut points: Vec<PxF> = Vec::with_capacity(line.len());
        for &p in line {
            if points.last() != Some(&p) {
                points.push(p);
            }
        }
        if let [only] = points[..] {
            self.disc(only, r, o);
            return;
        }
        for w in points.windows(2) {
            self.segment(w[0], w[1], r, o);
        }
        for &p in points.iter().skip(1).take(points.len().saturating_sub(2)) {
            self.disc(p, r, o);
        }
    }

    /// Inks row `y` where `x + o` lies in `[x0, x1]`.
    fn span(&mut self, y: i32, x0: f64, x1: f64, o: f64) {
        let (l, t, r, b) = self.clip;
        if y < t || y >= b || x0 > x1 {
            return;
        }
        let first = ((x0 - o - EDGE).ceil().max(f64::from(l))) as i32;
        let last = ((x1 - o + EDGE).floor().min(f64::from(r - 1))) as i32;
        if first > last {
            return;
        }
        let row = (y - t) as usize * self.width;
        let (a, z) = ((first - l) as usize, (last - l) as usize);
        self.inked[row + a..=row + z].fill(true);
    }

    /// Rows `y` whose pixel centre `y + o` may lie within `[lo, hi]`, clipped.
    fn rows(&self, lo: f64, hi: f64, o: f64) -> std::ops::RangeInclusive<i32> {
        let first = (lo - o).floor().max(f64::from(self.clip.1)) as i32;
        let last = (hi - o).ceil().min(f64::from(self.clip.3 - 1)) as i32;
        first..=last
    }

    fn disc(&mut self, (cx, cy): PxF, r: f64, o: f64) {
        for y in self.rows(cy - r, cy + r, o) {
            let dy = f64::from(y) + o - cy;
            let h2 = r * r - dy * dy;
            if h2 >= -EDGE {
                let h = h2.max(0.0).sqrt();
                self.span(y, cx - h, cx + h, o);
            }
        }
    }

    /// The rectangle of centres within `r` of segment `a`-`b` (no end caps), row by row:
    /// each row meets it in one interval, cut out by four linear bounds.
    fn segment(&mut self, a: PxF, b: PxF, r: f64, o: f64) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        if len2 == 0.0 {
            return;
        }
        let reach = r * len2.sqrt();
        for y in self.rows(a.1.min(b.1) - r, a.1.max(b.1) + r, o) {
            let qy = f64::from(y) + o - a.1;
            // With q = centre - a: 0 <= q.d <= |d|^2 and |q x d| <= r |d|.
            let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
            let along = bound(dx, -qy * dy, len2 - qy * dy, &mut lo, &mut hi);
            let across = bound(dy, qy * dx - reach, qy * dx + reach, &mut lo, &mut hi);
            if along && across && lo.is_finite() && hi.is_finite() {
                self.span(y, a.0 + lo, a.0 + hi, o);
            }
        }
    }

    /// Paints the inked pixels in `color`, one rectangle per horizontal run.
    pub fn fill<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        color: RGBAColor,
    ) -> Result<(), DrawError> {
        let (l, t, _, _) = self.clip;
        let style = color.filled();
        for (row, pixels) in self.inked.chunks(self.width.max(1)).enumerate() {
            let y = t + row as i32;
            let mut x = 0;
            while x < pixels.len() {
                if !pixels[x] {
                    x += 1;
                    continue;
                }
                let run = pixels[x..].iter().take_while(|&&p| p).count();
                let x0 = l + x as i32;
                area.draw(&Rectangle::new([(x0, y), (x0 + run as i32, y + 1)], style))?;
                x += run;
            }
        }
        Ok(())
    }
}

/// Narrows `[lo, hi]` to the `x` with `kmin <= c x <= kmax`; false if no `x` can qualify.
fn bound(c: f64, kmin: f64, kmax: f64, lo: &mut f64, hi: &mut f64) -> bool {
    if c.abs() < 1e-12 {
        return kmin <= EDGE && kmax >= -EDGE;
    }
    let (a, b) = if c > 0.0 {
        (kmin / c, kmax / c)
    } else {
        (kmax / c, kmin / c)
    };
    *lo = lo.max(a);
    *hi = hi.min(b);
    *lo <= *hi
}

/// Strokes one curve given as pixel polylines in the coordinates of `area`; a
/// one-point piece becomes a dot. `clip` (the plot rectangle) bounds rasterised strokes.
pub(crate) fn draw_curve<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    target: Target,
    pieces: &[Vec<Px>],
    line: LineStyle,
    color: RGBAColor,
    width: u32,
    clip: PxRect,
) -> Result<(), DrawError> {
    let width = width.max(1);
    let mut mask = (target == Target::Raster && width > 1).then(|| Mask::new(clip));
    for piece in pieces {
        if let [only] = piece[..] {
            area.draw(&Circle::new(only, width.max(2), color.filled()))?;
            continue;
        }
        let points: Vec<PxF> = piece
            .iter()
            .map(|&(x, y)| (f64::from(x), f64::from(y)))
            .collect();
        let strokes = match style::pattern(line, width) {
            None => vec![points],
            Some((dash, gap)) => dashes(&points, f64::from(dash), f64::from(gap)),
        };
        for s in &strokes {
            match &mut mask {
                Some(mask) => mask.stroke(s, width),
                None => {
                    let px: Vec<Px> = s
                        .iter()
                        .map(|&(x, y)| (x.round() as i32, y.round() as i32))
                        .collect();
                    let shape = ShapeStyle::from(color).stroke_width(width);
                    area.draw(&PathElement::new(px, shape))?;
                }
            }
        }
    }
    if let Some(mask) = mask {
        mask.fill(area, color)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of integers in `0..n`.
    fn noise(seed: u64) -> impl FnMut(i32) -> i32 {
        let mut s = seed;
        move |n| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % n as u64) as i32
        }
    }

    #[test]
    fn decimation_keeps_every_columns_extremes() {
        let mut rnd = noise(3);
        // 4000 points over 400 columns, x rising slowly, y jumping about.
        let line: Vec<Px> = (0..4000).map(|i| (10 + i / 10, rnd(300))).collect();
        let thin = decimate(&line);
        assert!(is_dense(&line));
        assert!(thin.len() <= 4 * 400, "{} points kept", thin.len());
        assert_eq!(thin.first(), line.first());
        assert_eq!(thin.last(), line.last());
        for x in 10..410 {
            let ys = |l: &[Px]| -> (i32, i32) {
                l.iter()
                    .filter(|p| p.0 == x)
                    .fold((i32::MAX, i32::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)))
            };
            assert_eq!(ys(&thin), ys(&line), "column {x}");
            let first = line.iter().find(|p| p.0 == x);
            assert_eq!(thin.iter().find(|p| p.0 == x), first, "entry of column {x}");
        }
        // The kept points are a subsequence of the original, in order.
        let mut rest = line.iter();
        assert!(thin.iter().all(|p| rest.any(|q| q == p)));
    }

    #[test]
    fn decimation_handles_curves_that_double_back() {
        // x goes right then left again: consecutive runs per column, not whole columns.
        let line = [
            (0, 5),
            (0, 1),
            (0, 7),
            (0, 9),
            (0, 4),
            (1, 3),
            (0, 2),
            (0, 8),
            (0, 6),
            (0, 0),
        ];
        assert_eq!(
            decimate(&line),
            vec![
                (0, 5),
                (0, 1),
                (0, 9),
                (0, 4),
                (1, 3),
                (0, 2),
                (0, 8),
                (0, 0)
            ]
        );
        let flat = [(3, 3), (3, 3), (3, 3)];
        assert_eq!(decimate(&flat), vec![(3, 3)]);
        assert!(!is_dense(&[(0, 0), (1, 5), (2, 0)]));
    }

    #[test]
    fn dashes_follow_the_pattern_across_vertices() {
        let line = [(0.0, 0.0), (5.0, 0.0), (5.0, 10.0)];
        let d = dashes(&line, 6.0, 2.0);
        let expected = [
            vec![(0.0, 0.0), (5.0, 0.0), (5.0, 1.0)],
            vec![(5.0, 3.0), (5.0, 9.0)],
        ];
        assert_eq!(d.len(), expected.len(), "{d:?}");
        for (got, want) in d.iter().zip(&expected) {
            assert_eq!(got.len(), want.len(), "{d:?}");
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g.0 - w.0).abs() < 1e-9 && (g.1 - w.1).abs() < 1e-9,
                    "{d:?}"
                );
            }
        }
        assert!(dashes(&[], 6.0, 2.0).is_empty());
    }

    fn inked(mask: &Mask) -> Vec<(i32, i32)> {
        let (l, t, r, b) = mask.clip;
        (t..b)
            .flat_map(|y| (l..r).map(move |x| (x, y)))
            .filter(|&(x, y)| mask.get(x, y))
            .collect()
    }

    #[test]
    fn horizontal_strokes_are_exactly_width_rows_thick() {
        for width in 1..=6u32 {
            let mut mask = Mask::new((0, 0, 40, 40));
            mask.stroke(&[(5.0, 20.0), (30.0, 20.0)], width);
            let px = inked(&mask);
            let rows: std::collections::BTreeSet<i32> = px.iter().map(|p| p.1).collect();
            assert_eq!(rows.len(), width as usize, "width {width}: rows {rows:?}");
            assert!(rows.iter().all(|y| (y - 20).abs() <= 3));
            // Odd widths centre pixels on the line, even ones half a pixel off it.
            let columns = if width % 2 == 1 { 26 } else { 25 };
            assert_eq!(px.len(), columns * width as usize, "width {width}");
        }
    }

    #[test]
    fn sharp_turns_stay_near_the_polyline() {
        let mut rnd = noise(11);
        let line: Vec<PxF> = (0..300)
            .map(|i| (20.0 + f64::from(i) * 0.3, f64::from(20 + rnd(160))))
            .collect();
        for width in [2, 3, 5] {
            let mut mask = Mask::new((0, 0, 200, 200));
            mask.stroke(&line, width);
            let r = f64::from(width) / 2.0 + 1.0;
            for (x, y) in inked(&mask) {
                let p = (f64::from(x), f64::from(y));
                let near = line.windows(2).any(|w| dist_to_segment(p, w[0], w[1]) <= r);
                assert!(near, "width {width}: pixel ({x}, {y}) far from the line");
            }
        }
    }

    fn dist_to_segment(p: PxF, a: PxF, b: PxF) -> f64 {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 == 0.0 {
            0.0
        } else {
            (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
        };
        (p.0 - a.0 - t * dx).hypot(p.1 - a.1 - t * dy)
    }

    #[test]
    fn strokes_are_clipped_and_joined() {
        let mut mask = Mask::new((10, 10, 30, 30));
        mask.stroke(&[(0.0, 20.0), (20.0, 20.0), (20.0, 0.0)], 5);
        let px = inked(&mask);
        assert!(px
            .iter()
            .all(|&(x, y)| (10..30).contains(&x) && (10..30).contains(&y)));
        // The round join fills the outer corner near (22, 22) but not its miter tip.
        assert!(mask.get(21, 21));
        assert!(!mask.get(22, 22));
        // A point collapses to a dot.
        let mut dot = Mask::new((0, 0, 10, 10));
        dot.stroke(&[(5.0, 5.0), (5.0, 5.0)], 3);
        assert_eq!(inked(&dot).len(), 9);
    }
}
