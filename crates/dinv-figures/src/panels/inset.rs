//! Where an inset sits: a small line panel on a white, framed box inside a line
//! panel's plot area, with its own axes and ticks in small type. `lines.rs` draws it
//! (a line panel drawing a line panel), here is only its geometry.

use crate::geometry::PxRect;
use crate::model::{Corner, InsetPlace};

/// Gap between a corner inset and the plot frame, in pixels.
const GAP: i32 = 6;

/// The inset's box in pixels (coordinates of the panel area) for the plot area `plot`.
pub(crate) fn rect(place: &InsetPlace, plot: PxRect) -> PxRect {
    let (l, t, r, b) = plot;
    let (w, h) = (f64::from(r - l), f64::from(b - t));
    match *place {
        InsetPlace::Corner {
            corner,
            width,
            height,
        } => {
            let iw = (width * w).round() as i32;
            let ih = (height * h).round() as i32;
            let x = match corner {
                Corner::UpperLeft | Corner::LowerLeft => l + GAP,
                Corner::UpperRight | Corner::LowerRight => r - GAP - iw,
            };
            let y = match corner {
                Corner::UpperLeft | Corner::UpperRight => t + GAP,
                Corner::LowerLeft | Corner::LowerRight => b - GAP - ih,
            };
            (x, y, x + iw, y + ih)
        }
        InsetPlace::Rect {
            left,
            top,
            width,
            height,
        } => {
            let x = l + (left * w).round() as i32;
            let y = t + (top * h).round() as i32;
            (
                x,
                y,
                x + (width * w).round() as i32,
                y + (height * h).round() as i32,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corner_insets_sit_in_their_corner() {
        let plot = (100, 50, 500, 350);
        let place = |corner| InsetPlace::Corner {
            corner,
            width: 0.4,
            height: 0.5,
        };
        assert_eq!(
            rect(&place(Corner::UpperRight), plot),
            (500 - GAP - 160, 50 + GAP, 500 - GAP, 50 + GAP + 150)
        );
        assert_eq!(
            rect(&place(Corner::LowerLeft), plot),
            (100 + GAP, 350 - GAP - 150, 100 + GAP + 160, 350 - GAP)
        );
        let free = InsetPlace::Rect {
            left: 0.5,
            top: 0.0,
            width: 0.5,
            height: 1.0,
        };
        assert_eq!(rect(&free, plot), (300, 50, 500, 350));
    }
}
