//! Plane geometry in axis space: splitting curves at gaps and clipping them to the
//! plot rectangle.
//!
//! plotters does not clip, so a fixed axis range would otherwise let curves run over
//! the tick labels; clipping here also keeps huge values away from pixel arithmetic.

pub(crate) type Pt = (f64, f64);

/// A pixel rectangle `(left, top, right, bottom)`, right/bottom exclusive.
pub(crate) type PxRect = (i32, i32, i32, i32);

/// An axis-aligned rectangle `[x0, x1] x [y0, y1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

impl Rect {
    pub fn contains(&self, (x, y): Pt) -> bool {
        x >= self.x0 && x <= self.x1 && y >= self.y0 && y <= self.y1
    }
}

/// Maximal runs of consecutive `Some` items: a `None` ends the current run.
pub(crate) fn split_runs<T>(items: impl IntoIterator<Item = Option<T>>) -> Vec<Vec<T>> {
    let mut runs = vec![];
    let mut current = vec![];
    for item in items {
        match item {
            Some(v) => current.push(v),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The part of segment `a`-`b` inside `r` (Liang–Barsky). Unclipped ends are returned
/// exactly, so consecutive visible segments can be rejoined.
fn clip_segment(a: Pt, b: Pt, r: &Rect) -> Option<(Pt, Pt)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - r.x0),
        (dx, r.x1 - a.0),
        (-dy, a.1 - r.y0),
        (dy, r.y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
            continue;
        }
        let t = q / p;
        if p < 0.0 {
            if t > t1 {
                return None;
            }
            t0 = t0.max(t);
        } else {
            if t < t0 {
                return None;
            }
            t1 = t1.min(t);
        }
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    let start = if t0 == 0.0 { a } else { at(t0) };
    let end = if t1 == 1.0 { b } else { at(t1) };
    Some((start, end))
}

/// The visible pieces of a polyline clipped to `r`. A lone point inside `r` is kept
/// as a one-point piece (callers may mark it).
pub(crate) fn clip_polyline(line: &[Pt], r: &Rect) -> Vec<Vec<Pt>> {
    if let [p] = line {
        return if r.contains(*p) {
            vec![vec![*p]]
        } else {
            vec![]
        };
    }
    let mut pieces: Vec<Vec<Pt>> = vec![];
    let mut current: Vec<Pt> = vec![];
    for w in line.windows(2) {
        let Some((start, end)) = clip_segment(w[0], w[1], r) else {
            continue;
        };
        if current.last() != Some(&start) && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push(start);
        }
        current.push(end);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// A polygon clipped to `r` (Sutherland–Hodgman; fine for the simple polygons of bands).
pub(crate) fn clip_polygon(poly: &[Pt], r: &Rect) -> Vec<Pt> {
    type Inside = fn(Pt, &Rect) -> bool;
    type Cut = fn(Pt, Pt, &Rect) -> Pt;
    let edges: [(Inside, Cut); 4] = [
        (|p, r| p.0 >= r.x0, |a, b, r| cut_x(a, b, r.x0)),
        (|p, r| p.0 <= r.x1, |a, b, r| cut_x(a, b, r.x1)),
        (|p, r| p.1 >= r.y0, |a, b, r| cut_y(a, b, r.y0)),
        (|p, r| p.1 <= r.y1, |a, b, r| cut_y(a, b, r.y1)),
    ];
    let mut out = poly.to_vec();
    for (inside, cut) in edges {
        let input = std::mem::take(&mut out);
        let Some(&last) = input.last() else {
            break;
        };
        let mut prev = last;
        for &cur in &input {
            match (inside(prev, r), inside(cur, r)) {
                (true, true) => out.push(cur),
                (true, false) => out.push(cut(prev, cur, r)),
                (false, true) => {
                    out.push(cut(prev, cur, r));
                    out.push(cur);
                }
                (false, false) => {}
            }
            prev = cur;
        }
    }
    out
}

fn cut_x(a: Pt, b: Pt, x: f64) -> Pt {
    (x, a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0))
}

fn cut_y(a: Pt, b: Pt, y: f64) -> Pt {
    (a.0 + (b.0 - a.0) * (y - a.1) / (b.1 - a.1), y)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: Rect = Rect {
        x0: 0.0,
        x1: 1.0,
        y0: 0.0,
        y1: 1.0,
    };

    #[test]
    fn runs_split_at_gaps() {
        let runs = split_runs([Some(1), Some(2), None, None, Some(3), None]);
        assert_eq!(runs, vec![vec![1, 2], vec![3]]);
        assert!(split_runs::<i32>([None, None]).is_empty());
    }

    #[test]
    fn polyline_inside_is_untouched() {
        let line = [(0.1, 0.1), (0.5, 0.9), (0.9, 0.2)];
        assert_eq!(clip_polyline(&line, &UNIT), vec![line.to_vec()]);
    }

    #[test]
    fn polyline_leaving_and_reentering_splits() {
        let line = [(0.2, 0.5), (0.5, 2.0), (0.8, 0.5)];
        let pieces = clip_polyline(&line, &UNIT);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert_eq!(pieces[0][0], (0.2, 0.5));
        assert!((pieces[0][1].1 - 1.0).abs() < 1e-12);
        assert!((pieces[1][0].1 - 1.0).abs() < 1e-12);
        assert_eq!(pieces[1][1], (0.8, 0.5));
    }

    #[test]
    fn polyline_fully_outside_vanishes() {
        assert!(clip_polyline(&[(2.0, 2.0), (3.0, 5.0)], &UNIT).is_empty());
        assert!(clip_polyline(&[(2.0, 2.0)], &UNIT).is_empty());
    }

    #[test]
    fn polygon_is_cut_to_the_rectangle() {
        let square = [(-1.0, -1.0), (2.0, -1.0), (2.0, 0.5), (-1.0, 0.5)];
        let clipped = clip_polygon(&square, &UNIT);
        assert!(clipped.iter().all(|p| UNIT.contains(*p)), "{clipped:?}");
        let area: f64 = (0..clipped.len())
            .map(|i| {
                let (a, b) = (clipped[i], clipped[(i + 1) % clipped.len()]);
                a.0 * b.1 - b.0 * a.1
            })
            .sum::<f64>()
            / 2.0;
        assert!((area.abs() - 0.5).abs() < 1e-12, "area {area}");
    }
}
