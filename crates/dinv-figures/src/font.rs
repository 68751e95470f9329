//! Font surgery that makes plotters' bitmap text come out evenly spaced.
//!
//! plotters 0.3.7 draws text with ab_glyph (`style/font/ab_glyph.rs`), putting the
//! left edge of each glyph's bitmap at the pen position: the glyph's left side bearing
//! is lost. Glyphs drift by a pixel or two against each other — "(T" gains a gap — and
//! the font's own kerning then makes things worse: in "Tr" the r (bearing 1.3 px at
//! 14 px, kerned -1.8 px) lands on the stem of the T and the pair reads "Ŧ".
//!
//! plotters does apply kerning pairs, so the lost bearings can be given back through
//! them: [`for_plotters`] replaces the `kern` table by one where each pair `(a, b)`
//! carries `lsb(b) - lsb(a)`. The bearings telescope along a string, so every glyph
//! lands where its outline belongs up to pixel rounding (the first glyph keeps its
//! shift, moving the whole string by a pixel at most). The font's own kerning is
//! dropped: its adjustments are no larger than the ±1 px placement error left by
//! plotters' whole-pixel pen, and with that error they collide letters (the "Tr").
//! The pairs cover the characters figures use ([`COVERED`]); others get no kerning.
//! SVG text is laid out by the viewer and needs none of this.
//!
//! Only the table directory's `kern` record changes: it points at the new table,
//! appended to the file (the old one stays, unreferenced). If the font is not what the
//! parser expects, kerning is just switched off, which fixes "Tr" too.

use std::collections::BTreeMap;

/// Characters whose mutual spacing is corrected: ASCII, Latin-1, Greek, super- and
/// subscripts and the symbols of axis labels and legends.
const COVERED: &[(char, char)] = &[
    (' ', '~'),
    ('\u{b0}', '\u{b7}'), // ° ± ² ³ ´ µ ¶ ·
    ('\u{d7}', '\u{d7}'), // ×
    ('\u{391}', '\u{3a9}'),
    ('\u{3b1}', '\u{3c9}'),
    ('\u{3d1}', '\u{3d5}'), // ϑ ϕ
    ('\u{2013}', '\u{2014}'),
    ('\u{2018}', '\u{201d}'),
    ('\u{2026}', '\u{2026}'),
    ('\u{2032}', '\u{2033}'),
    ('\u{2070}', '\u{207f}'),
    ('\u{2080}', '\u{208e}'),
    ('\u{1d40}', '\u{1d40}'), // ᵀ
    ('\u{2190}', '\u{2193}'),
    ('\u{2202}', '\u{2202}'),
    ('\u{2207}', '\u{2208}'),
    ('\u{2211}', '\u{2212}'),
    ('\u{221a}', '\u{221a}'),
    ('\u{221e}', '\u{221e}'),
    ('\u{2248}', '\u{2248}'),
    ('\u{2260}', '\u{2260}'),
    ('\u{2264}', '\u{2265}'),
    ('\u{22a4}', '\u{22a4}'),
];

/// Pairs per `kern` subtable, so each subtable's 16-bit length stays valid.
const PAIRS_PER_SUBTABLE: usize = 8000;

/// The font to register with plotters: a copy with bearing-compensating kerning (or,
/// failing that, no kerning), leaked once per process; the font itself if neither
/// change applies.
pub(crate) fn for_plotters(font: &'static [u8]) -> &'static [u8] {
    if let Some(fixed) = with_bearing_kerning(font) {
        return Box::leak(fixed.into_boxed_slice());
    }
    let mut copy = font.to_vec();
    if disable_kerning(&mut copy) {
        Box::leak(copy.into_boxed_slice())
    } else {
        font
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Position of the table record for `tag` in the table directory.
fn record(font: &[u8], tag: &[u8; 4]) -> Option<usize> {
    let tables = usize::from(be16(font, 4)?);
    (0..tables)
        .map(|i| 12 + 16 * i)
        .find(|&r| font.get(r..r + 4) == Some(tag.as_slice()))
}

/// The bytes of table `tag`.
fn table<'a>(font: &'a [u8], tag: &[u8; 4]) -> Option<&'a [u8]> {
    let r = record(font, tag)?;
    let offset = be32(font, r + 8)? as usize;
    let len = be32(font, r + 12)? as usize;
    font.get(offset..offset.checked_add(len)?)
}

/// Glyph of `c` from a format-4 `cmap` subtable (Unicode BMP).
fn glyph_of(cmap: &[u8], c: char) -> Option<u16> {
    let code = u16::try_from(u32::from(c)).ok()?;
    let sub = (0..usize::from(be16(cmap, 2)?)).find_map(|i| {
        let rec = 4 + 8 * i;
        let (platform, encoding) = (be16(cmap, rec)?, be16(cmap, rec + 2)?);
        let at = be32(cmap, rec + 4)? as usize;
        let unicode = (platform == 3 && encoding == 1) || platform == 0;
        (unicode && be16(cmap, at)? == 4).then_some(at)
    })?;
    let segs = usize::from(be16(cmap, sub + 6)? / 2);
    let ends = sub + 14;
    let starts = ends + 2 * segs + 2;
    let deltas = starts + 2 * segs;
    let range_offsets = deltas + 2 * segs;
    for i in 0..segs {
        if be16(cmap, ends + 2 * i)? < code {
            continue;
        }
        let start = be16(cmap, starts + 2 * i)?;
        if start > code {
            return None;
        }
        let delta = be16(cmap, deltas + 2 * i)?;
        let ro_at = range_offsets + 2 * i;
        let ro = usize::from(be16(cmap, ro_at)?);
        let glyph = if ro == 0 {
            code.wrapping_add(delta)
        } else {
            let g = be16(cmap, ro_at + ro + 2 * usize::from(code - start))?;
            if g == 0 {
                return None;
            }
            g.wrapping_add(delta)
        };
        return (glyph != 0).then_some(glyph);
    }
    None
}

/// Left side bearing of `glyph` in font units.
fn bearing(hmtx: &[u8], metrics: usize, glyph: u16) -> Option<i32> {
    let g = usize::from(glyph);
    let at = if g < metrics {
        4 * g + 2
    } else {
        4 * metrics + 2 * (g - metrics)
    };
    Some(i32::from(be16(hmtx, at)? as i16))
}

/// The horizontal format-0 pairs of an OpenType `kern` table (the first subtable
/// holding a pair wins, as in ab_glyph).
#[cfg(test)]
fn kern_pairs(kern: &[u8]) -> Option<BTreeMap<(u16, u16), i32>> {
    let mut pairs = BTreeMap::new();
    if be16(kern, 0)? != 0 {
        return None; // an Apple table: not expected in DejaVu
    }
    let count = usize::from(be16(kern, 2)?);
    let mut at = 4;
    for _ in 0..count {
        let len = usize::from(be16(kern, at + 2)?);
        let (format, flags) = (kern.get(at + 4)?, kern.get(at + 5)?);
        if *format == 0 && flags & 0b111 == 0b001 {
            let n = usize::from(be16(kern, at + 6)?);
            for k in 0..n {
                let p = at + 14 + 6 * k;
                let value = i32::from(be16(kern, p + 4)? as i16);
                pairs
                    .entry((be16(kern, p)?, be16(kern, p + 2)?))
                    .or_insert(value);
            }
        }
        // A lone subtable may exceed its 16-bit length; nothing follows it anyway.
        at += len;
    }
    Some(pairs)
}

/// A `kern` table (version 0) holding `pairs` in horizontal format-0 subtables.
fn kern_table(pairs: &BTreeMap<(u16, u16), i32>) -> Vec<u8> {
    let pairs: Vec<_> = pairs.iter().collect();
    let chunks: Vec<_> = pairs.chunks(PAIRS_PER_SUBTABLE).collect();
    let mut out = vec![0, 0];
    out.extend((chunks.len() as u16).to_be_bytes());
    for chunk in chunks {
        let n = chunk.len();
        let pow = 1usize << (usize::BITS - 1 - n.leading_zeros());
        let search = 6 * pow;
        out.extend([0, 0]);
        out.extend(((14 + 6 * n) as u16).to_be_bytes());
        out.extend([0, 1]); // format 0, horizontal
        for v in [n, search, pow.trailing_zeros() as usize, 6 * n - search] {
            out.extend((v as u16).to_be_bytes());
        }
        for (&(left, right), &value) in chunk {
            out.extend(left.to_be_bytes());
            out.extend(right.to_be_bytes());
            out.extend((value.clamp(-32768, 32767) as i16).to_be_bytes());
        }
    }
    out
}

/// A copy of `font` whose `kern` table gives back the left side bearings that
/// plotters drops; `None` if the font lacks what this needs.
fn with_bearing_kerning(font: &[u8]) -> Option<Vec<u8>> {
    let cmap = table(font, b"cmap")?;
    let hmtx = table(font, b"hmtx")?;
    let metrics = usize::from(be16(table(font, b"hhea")?, 34)?);
    let kern_record = record(font, b"kern")?;

    let mut glyphs: Vec<(u16, i32)> = vec![];
    for &(first, last) in COVERED {
        for c in first..=last {
            if let Some(g) = glyph_of(cmap, c) {
                glyphs.push((g, bearing(hmtx, metrics, g)?));
            }
        }
    }
    glyphs.sort_unstable();
    glyphs.dedup();
    let mut pairs = BTreeMap::new();
    for &(a, lsb_a) in &glyphs {
        for &(b, lsb_b) in &glyphs {
            if lsb_b != lsb_a {
                pairs.insert((a, b), lsb_b - lsb_a);
            }
        }
    }

    let mut out = font.to_vec();
    out.resize(out.len().next_multiple_of(4), 0);
    let offset = u32::try_from(out.len()).ok()?;
    let kern = kern_table(&pairs);
    let len = u32::try_from(kern.len()).ok()?;
    out.extend(kern);
    out.resize(out.len().next_multiple_of(4), 0);
    out[kern_record + 8..kern_record + 12].copy_from_slice(&offset.to_be_bytes());
    out[kern_record + 12..kern_record + 16].copy_from_slice(&len.to_be_bytes());
    Some(out)
}

/// The left side bearing of `c` in pixels at plotters' font size `size` (plotters
/// scales glyphs so that ascent minus descent is `size`), from the embedded DejaVu Sans
/// (`bold` or regular); 0 if the font lacks the glyph. plotters drops this bearing
/// for the first glyph of every string it draws, so text drawn in pieces
/// ([`crate::text`]) adds it back per piece.
pub(crate) fn left_bearing(c: char, size: f64, bold: bool) -> f64 {
    let font = if bold {
        dejavu::sans::bold()
    } else {
        dejavu::sans::regular()
    };
    let units = || -> Option<(i32, i32)> {
        let hhea = table(font, b"hhea")?;
        let ascent = i32::from(be16(hhea, 4)? as i16);
        let descent = i32::from(be16(hhea, 6)? as i16);
        let metrics = usize::from(be16(hhea, 34)?);
        let glyph = glyph_of(table(font, b"cmap")?, c)?;
        Some((
            bearing(table(font, b"hmtx")?, metrics, glyph)?,
            ascent - descent,
        ))
    };
    match units() {
        Some((lsb, height)) if height > 0 => f64::from(lsb) * size / f64::from(height),
        _ => 0.0,
    }
}

/// Sets the subtable count of the font's `kern` table to zero; false if there is no
/// (recognisable) `kern` table.
fn disable_kerning(font: &mut [u8]) -> bool {
    let Some(r) = record(font, b"kern") else {
        return false;
    };
    let Some(offset) = be32(font, r + 8).map(|o| o as usize) else {
        return false;
    };
    // OpenType header: version 0 (u16), count (u16). Apple: version 1.0 (Fixed), count (u32).
    let count = match (be16(font, offset), be32(font, offset)) {
        (Some(0), _) => offset + 2..offset + 4,
        (_, Some(0x0001_0000)) => offset + 4..offset + 8,
        _ => return false,
    };
    match font.get_mut(count) {
        Some(n) => {
            n.fill(0);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regular() -> &'static [u8] {
        dejavu::sans::regular()
    }

    #[test]
    fn reads_dejavu_metrics() {
        let font = regular();
        let cmap = table(font, b"cmap").unwrap();
        let (t, r) = (glyph_of(cmap, 'T').unwrap(), glyph_of(cmap, 'r').unwrap());
        assert_ne!(t, r);
        assert_eq!(
            glyph_of(cmap, '\u{e000}'),
            None,
            "private use area is empty"
        );
        let hmtx = table(font, b"hmtx").unwrap();
        let metrics = usize::from(be16(table(font, b"hhea").unwrap(), 34).unwrap());
        // r sits well right of its origin (1.3 px at 14 px); T hangs a hair left.
        let (lsb_t, lsb_r) = (
            bearing(hmtx, metrics, t).unwrap(),
            bearing(hmtx, metrics, r).unwrap(),
        );
        assert!(lsb_r > 150 && lsb_t <= 0, "lsb T {lsb_t}, r {lsb_r}");
        let pairs = kern_pairs(table(font, b"kern").unwrap()).unwrap();
        assert_eq!(
            pairs.get(&(t, r)),
            Some(&-301),
            "DejaVu kerns Tr by -301/2048 em"
        );
    }

    #[test]
    fn rebuilt_kerning_is_the_bearing_difference() {
        let font = regular();
        let fixed = with_bearing_kerning(font).unwrap();
        assert_eq!(&fixed[..12], &font[..12]);
        assert_eq!(fixed.len() % 4, 0);
        let cmap = table(&fixed, b"cmap").unwrap();
        let hmtx = table(&fixed, b"hmtx").unwrap();
        let metrics = usize::from(be16(table(&fixed, b"hhea").unwrap(), 34).unwrap());
        let pairs = kern_pairs(table(&fixed, b"kern").unwrap()).unwrap();
        assert!(pairs.len() > 20_000, "{} pairs", pairs.len());
        for pair in ["Tr", "(T", "AV", "DI", "α=", "δ_", "10", "10⁻³", "−Wᵀ"] {
            let glyphs: Vec<u16> = pair.chars().map(|c| glyph_of(cmap, c).unwrap()).collect();
            for w in glyphs.windows(2) {
                let lsb = |g| bearing(hmtx, metrics, g).unwrap();
                let got = pairs.get(&(w[0], w[1])).copied().unwrap_or(0);
                assert_eq!(got, lsb(w[1]) - lsb(w[0]), "{pair}");
            }
        }
    }

    #[test]
    fn bearings_in_pixels() {
        // r sits about 1.3 px right of its origin at 14 px (see the module docs).
        let r = left_bearing('r', 14.0, false);
        assert!((1.0..1.6).contains(&r), "{r}");
        assert!(left_bearing('T', 14.0, false) <= 0.0);
        assert_eq!(left_bearing('\u{e000}', 14.0, false), 0.0);
    }

    #[test]
    fn kern_tables_can_be_emptied() {
        let original = regular();
        let mut copy = original.to_vec();
        assert!(disable_kerning(&mut copy));
        let changed = (0..copy.len()).filter(|&i| copy[i] != original[i]).count();
        assert!(changed > 0 && changed <= 4, "{changed} bytes changed");
        assert_eq!(kern_pairs(table(&copy, b"kern").unwrap()).unwrap().len(), 0);
        assert!(!disable_kerning(&mut [0u8; 8]));
        assert!(with_bearing_kerning(&[0u8; 8]).is_none());
    }
}
