//! A categorical palette readable by colour-blind viewers.
//!
//! The first eight colours are Okabe & Ito's (2008) set, the next ten Paul Tol's "muted"
//! scheme, so the colours most figures use are the most distinct ones.

use crate::model::Rgb;

const CATEGORICAL: [Rgb; 18] = [
    Rgb(0x00, 0x72, 0xB2), // blue
    Rgb(0xE6, 0x9F, 0x00), // orange
    Rgb(0x00, 0x9E, 0x73), // bluish green
    Rgb(0xD5, 0x5E, 0x00), // vermillion
    Rgb(0x56, 0xB4, 0xE9), // sky blue
    Rgb(0xCC, 0x79, 0xA7), // reddish purple
    Rgb(0x00, 0x00, 0x00), // black
    Rgb(0xF0, 0xE4, 0x42), // yellow
    Rgb(0x33, 0x22, 0x88), // indigo
    Rgb(0x99, 0x99, 0x33), // olive
    Rgb(0x88, 0x22, 0x55), // wine
    Rgb(0x44, 0xAA, 0x99), // teal
    Rgb(0xCC, 0x66, 0x77), // rose
    Rgb(0x11, 0x77, 0x33), // green
    Rgb(0xDD, 0xCC, 0x77), // sand
    Rgb(0xAA, 0x44, 0x99), // purple
    Rgb(0x88, 0xCC, 0xEE), // cyan
    Rgb(0xBB, 0xBB, 0xBB), // grey
];

/// All palette colours, most distinct first.
pub fn categorical() -> &'static [Rgb] {
    &CATEGORICAL
}

/// Colour `i` of the palette, cycling when `i` exceeds its length.
pub fn pick(i: usize) -> Rgb {
    CATEGORICAL[i % CATEGORICAL.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_sixteen_distinct_colours() {
        let mut colours = categorical().to_vec();
        colours.sort_by_key(|c| (c.0, c.1, c.2));
        colours.dedup();
        assert!(colours.len() >= 16, "{} distinct colours", colours.len());
    }

    #[test]
    fn pick_cycles() {
        let n = categorical().len();
        assert_eq!(pick(0), categorical()[0]);
        assert_eq!(pick(n + 3), pick(3));
    }
}
