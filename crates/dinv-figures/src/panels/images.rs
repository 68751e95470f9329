//! Image-grid panels: grey-scale images in a grid with thin gaps and optional row labels.
//!
//! Each image pixel becomes a filled rectangle (runs of equal grey are merged, which
//! keeps the SVG small), scaled by the largest factor that fits the panel.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::markup::Rich;
use crate::model::ImageGridPanel;
use crate::stroke::Target;
use crate::style::{self, DrawError};
use crate::text;

const MARGIN: f64 = 8.0;
const GAP: f64 = 3.0;
/// Shown for NaN or infinite pixel values, which have no grey level.
const NOT_FINITE: RGBColor = RGBColor(200, 0, 0);

/// Grey level of `v` for the `(black, white)` value range.
fn grey(v: f64, (black, white): (f64, f64)) -> RGBColor {
    if !v.is_finite() {
        return NOT_FINITE;
    }
    let t = ((v - black) / (white - black)).clamp(0.0, 1.0);
    let g = (255.0 * t).round() as u8;
    RGBColor(g, g, g)
}

/// Pixels per image pixel: whole numbers when that loses little size, for crisp cells.
fn pixel_scale(fit: f64) -> f64 {
    let whole = fit.floor();
    if whole >= 1.0 && whole / fit >= 0.8 {
        whole
    } else {
        fit
    }
}

pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &ImageGridPanel,
    target: Target,
) -> Result<(), DrawError> {
    let area = if p.title.is_empty() {
        area.clone()
    } else {
        text::titled(area, &p.title, style::bold(style::PANEL_TITLE), target)?
    };
    let (w, h) = area.dim_in_pixel();
    let font = style::font(style::TICK_LABEL);
    let labels: Vec<Rich> = p.row_labels.iter().map(|l| Rich::parse(l)).collect();
    let mut label_w = 0.0f64;
    for label in &labels {
        label_w = label_w.max(f64::from(text::size(label, &font)?.0) + 8.0);
    }

    let (rows, cols) = (p.rows as f64, p.cols as f64);
    let avail_w = f64::from(w) - 2.0 * MARGIN - label_w - (cols - 1.0) * GAP;
    let avail_h = f64::from(h) - 2.0 * MARGIN - (rows - 1.0) * GAP;
    let fit = (avail_w / (cols * p.image_w as f64)).min(avail_h / (rows * p.image_h as f64));
    let s = pixel_scale(fit.max(0.05));
    let (cell_w, cell_h) = (s * p.image_w as f64, s * p.image_h as f64);
    let grid_w = cols * cell_w + (cols - 1.0) * GAP;
    let left = (label_w + (f64::from(w) - label_w - grid_w) / 2.0).round();
    // Top-aligned, so the grid stays with its title however much room is left below.
    let top = MARGIN;

    for (i, img) in p.pixels.iter().enumerate() {
        let (r, c) = ((i / p.cols) as f64, (i % p.cols) as f64);
        let x0 = left + c * (cell_w + GAP);
        let y0 = top + r * (cell_h + GAP);
        draw_image(&area, img, p, (x0, y0), s)?;
        let edge = [
            (x0.round() as i32 - 1, y0.round() as i32 - 1),
            ((x0 + cell_w).round() as i32, (y0 + cell_h).round() as i32),
        ];
        area.draw(&Rectangle::new(edge, style::FRAME))?;
    }

    let label_font = font.pos(Pos::new(HPos::Right, VPos::Center));
    for (r, label) in labels.iter().enumerate() {
        let y = top + r as f64 * (cell_h + GAP) + cell_h / 2.0;
        let pos = ((left - 8.0) as i32, y.round() as i32);
        text::draw(&area, label, pos, &label_font, target)?;
    }
    Ok(())
}

/// One image with its top-left corner at `origin`, `s` screen pixels per image pixel.
fn draw_image<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    img: &[f64],
    p: &ImageGridPanel,
    (x0, y0): (f64, f64),
    s: f64,
) -> Result<(), DrawError> {
    let edge = |origin: f64, k: usize| (origin + k as f64 * s).round() as i32;
    for (row, values) in img.chunks(p.image_w).enumerate() {
        let (top, bottom) = (edge(y0, row), edge(y0, row + 1));
        if bottom <= top {
            continue;
        }
        let mut start = 0;
        while start < values.len() {
            let color = grey(values[start], p.value_range);
            let end = (start..values.len())
                .find(|&k| grey(values[k], p.value_range) != color)
                .unwrap_or(values.len());
            let (l, r) = (edge(x0, start), edge(x0, end));
            if r > l {
                area.draw(&Rectangle::new([(l, top), (r, bottom)], color.filled()))?;
            }
            start = end;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_levels_follow_the_value_range() {
        assert_eq!(grey(0.0, (0.0, 1.0)), RGBColor(0, 0, 0));
        assert_eq!(grey(1.0, (0.0, 1.0)), RGBColor(255, 255, 255));
        assert_eq!(grey(2.0, (0.0, 1.0)), RGBColor(255, 255, 255));
        assert_eq!(
            grey(1.0, (1.0, 0.0)),
            RGBColor(0, 0, 0),
            "reversed range inverts"
        );
        assert_eq!(grey(f64::NAN, (0.0, 1.0)), NOT_FINITE);
    }

    #[test]
    fn scale_prefers_whole_pixels() {
        assert_eq!(pixel_scale(3.3), 3.0);
        assert_eq!(pixel_scale(1.27), 1.27);
        assert_eq!(pixel_scale(0.5), 0.5);
    }
}
