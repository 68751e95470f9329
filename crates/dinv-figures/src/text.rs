//! Drawing text that may carry markup ([`crate::markup`]): subscripts and superscripts
//! in smaller type on a lowered or raised baseline, legend notes in smaller type.
//!
//! Plain text (one run) is handed to plotters unchanged, so it renders exactly as it
//! did before markup existed. In a bitmap each run is drawn on its own, placed by the
//! measured widths. In SVG a rich text stays one `<text>` element, so the viewer lays it
//! out and anchors it as a whole: each run is prefixed with a reserved private-use
//! character, and [`svg_runs`] turns those into `<tspan>`s once the SVG is written.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, TextStyle};

use crate::font;
use crate::markup::{Level, Rich, Run, RESERVED};
use crate::stroke::Target;
use crate::style::DrawError;

/// Size of a script relative to the text it belongs to.
const SCRIPT: f64 = 0.7;
/// Size of a legend note relative to the label.
const NOTE: f64 = 0.8;
/// Baseline shift of subscripts and superscripts, in units of the font size they
/// belong to (positive is down).
const SUB_SHIFT: f64 = 0.2;
const SUPER_SHIFT: f64 = -0.36;

/// Font size and baseline shift (pixels, down) of a run for a base font size `size`.
fn run_metrics(run: &Run, size: f64) -> (f64, f64) {
    let parent = if run.small { size * NOTE } else { size };
    match run.level {
        Level::Base => (parent, 0.0),
        Level::Sub => (parent * SCRIPT, parent * SUB_SHIFT),
        Level::Super => (parent * SCRIPT, parent * SUPER_SHIFT),
    }
}

fn font_error(e: impl std::fmt::Debug) -> DrawError {
    DrawError(format!("font error: {e:?}"))
}

/// Width in pixels of `text` in `style`, as plotters measures it.
fn plain_width(text: &str, style: &TextStyle) -> Result<i32, DrawError> {
    let ((x0, _), (x1, _)) = style.font.layout_box(text).map_err(font_error)?;
    Ok(x1 - x0)
}

fn resized<'a>(style: &TextStyle<'a>, size: f64) -> TextStyle<'a> {
    TextStyle {
        font: style.font.resize(size),
        color: style.color,
        pos: style.pos,
    }
}

/// Height of plotters' layout box for font size `size` (the same for every text).
fn line_height(size: f64) -> i32 {
    (size / 1.24) as i32
}

/// Where each run goes, relative to the top-left corner of the base line's box.
struct Layout {
    /// `(x, y of the run's top, font size)` per run.
    runs: Vec<(i32, i32, f64)>,
    width: i32,
    /// Extent above the base box (superscripts) and total height.
    above: i32,
    height: i32,
}

fn layout(rich: &Rich, style: &TextStyle) -> Result<Layout, DrawError> {
    let size = style.font.get_size();
    let bold = matches!(style.font.get_style(), FontStyle::Bold);
    let base_h = line_height(size);
    let (mut x, mut top, mut bottom) = (0, 0, base_h);
    let mut runs = Vec::with_capacity(rich.runs.len());
    // plotters draws each run's first glyph without its left bearing, which shifts the
    // run left by that bearing; shift later runs back by the difference to the first,
    // so the whole text moves as plain text does.
    let lsb = |run: &Run, s: f64| {
        run.text
            .chars()
            .next()
            .map_or(0.0, |c| font::left_bearing(c, s, bold))
    };
    let first = rich
        .runs
        .first()
        .map_or(0.0, |r| lsb(r, run_metrics(r, size).0));
    for run in &rich.runs {
        let (s, shift) = run_metrics(run, size);
        // plotters puts the baseline half a font size below the top of the layout box.
        let y = (size / 2.0 + shift - s / 2.0).round() as i32;
        let bearing = (lsb(run, s) - first).round() as i32;
        runs.push((x + bearing, y, s));
        x += plain_width(&run.text, &resized(style, s))?;
        top = top.min(y);
        bottom = bottom.max(y + line_height(s));
    }
    Ok(Layout {
        runs,
        width: x,
        above: -top,
        height: bottom - top,
    })
}

/// `(width, height)` of the text in pixels, scripts included (unrotated).
pub(crate) fn size(rich: &Rich, style: &TextStyle) -> Result<(i32, i32), DrawError> {
    match rich.as_plain() {
        Some(plain) => Ok((
            plain_width(plain, style)?,
            line_height(style.font.get_size()),
        )),
        None => layout(rich, style).map(|l| (l.width, l.height)),
    }
}

/// Draws `rich` at `pos` (coordinates of `area`) with the anchor and rotation of
/// `style`. The anchor refers to the box of the base line, as for plain text.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rich: &Rich,
    pos: (i32, i32),
    style: &TextStyle,
    target: Target,
) -> Result<(), DrawError> {
    if let Some(plain) = rich.as_plain() {
        area.draw(&Text::new(plain.to_string(), pos, style.clone()))?;
        return Ok(());
    }
    if target == Target::Vector {
        area.draw(&Text::new(svg_encode(rich), pos, style.clone()))?;
        return Ok(());
    }
    let l = layout(rich, style)?;
    let base_h = line_height(style.font.get_size());
    let ox = match style.pos.h_pos {
        HPos::Left => 0,
        HPos::Center => -l.width / 2,
        HPos::Right => -l.width,
    };
    let oy = match style.pos.v_pos {
        VPos::Top => 0,
        VPos::Center => -base_h / 2,
        VPos::Bottom => -base_h,
    };
    let turn = style.font.get_transform();
    for (run, &(x, y, s)) in rich.runs.iter().zip(&l.runs) {
        // Offsets are laid out unrotated and turned like the glyphs themselves.
        let (dx, dy) = turn.transform(ox + x, oy + y);
        let run_style = resized(style, s).pos(Pos::new(HPos::Left, VPos::Top));
        let at = (pos.0 + dx, pos.1 + dy);
        area.draw(&Text::new(run.text.clone(), at, run_style))?;
    }
    Ok(())
}

/// Like plotters' `DrawingArea::titled` (and identical for plain text): draws the
/// title centred at the top and returns the area below it.
/// The smallest size a title is shrunk to.
const MIN_TITLE_SIZE: f64 = 10.0;

pub(crate) fn titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    style: TextStyle,
    target: Target,
) -> Result<DrawingArea<DB, Shift>, DrawError> {
    let rich = Rich::parse(title);
    // A title wider than its area (a long figure title over a single panel) is set
    // smaller until it fits, rather than clipped at both edges.
    let room = area.dim_in_pixel().0 as i32 - 8;
    let mut style = style;
    for _ in 0..8 {
        let width = layout(&rich, &style)?.width;
        let size = style.font.get_size();
        if width <= room || size <= MIN_TITLE_SIZE {
            break;
        }
        let fitted = (size * f64::from(room) / f64::from(width)).floor();
        style.font = style.font.resize(fitted.clamp(MIN_TITLE_SIZE, size - 1.0));
    }
    if let Some(plain) = rich.as_plain() {
        return Ok(area.titled(plain, style)?);
    }
    let l = layout(&rich, &style)?;
    let y_padding = (l.height / 2).min(5);
    let x = area.dim_in_pixel().0 as i32 / 2;
    let style = style.pos(Pos::new(HPos::Center, VPos::Top));
    draw(area, &rich, (x, y_padding + l.above), &style, target)?;
    Ok(area.margin(2 * y_padding + l.height, 0, 0, 0))
}

/// The reserved character that starts a run in SVG text.
fn run_tag(run: &Run) -> char {
    let level = match run.level {
        Level::Base => 0,
        Level::Sub => 1,
        Level::Super => 2,
    };
    let code = level + if run.small { 3 } else { 0 };
    char::from_u32(u32::from(*RESERVED.start()) + code).unwrap_or(*RESERVED.start())
}

fn tag_run(tag: char) -> Option<Run> {
    let code = u32::from(tag).checked_sub(u32::from(*RESERVED.start()))?;
    let level = match code % 3 {
        0 => Level::Base,
        1 => Level::Sub,
        _ => Level::Super,
    };
    (code < 6).then(|| Run {
        text: String::new(),
        level,
        small: code >= 3,
    })
}

fn svg_encode(rich: &Rich) -> String {
    let mut s = String::new();
    for run in &rich.runs {
        s.push(run_tag(run));
        s.push_str(&run.text);
    }
    s
}

/// A number for an SVG attribute: at most two decimals, no trailing zeros.
fn svg_number(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Rewrites the run tags that [`draw`] put into SVG `<text>` elements as `<tspan>`s
/// with the runs' font sizes and baseline shifts. Text without tags is untouched.
pub(crate) fn svg_runs(svg: &str) -> String {
    if !svg.chars().any(|c| RESERVED.contains(&c)) {
        return svg.to_string();
    }
    let mut out = String::with_capacity(svg.len() + 1024);
    let mut rest = svg;
    while let Some(start) = rest.find("<text") {
        let Some(open_end) = rest[start..].find('>').map(|i| start + i + 1) else {
            break;
        };
        let Some(close) = rest[open_end..].find("</text>").map(|i| open_end + i) else {
            break;
        };
        out.push_str(&rest[..open_end]);
        let content = &rest[open_end..close];
        if content.chars().any(|c| RESERVED.contains(&c)) {
            // plotters writes the size as `font-size / 1.24`.
            let size = attribute(&rest[start..open_end], "font-size")
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(14.0, |v| v * 1.24);
            out.push_str(&tspans(content, size));
        } else {
            out.push_str(content);
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let from = tag.find(&key)? + key.len();
    Some(&tag[from..from + tag[from..].find('"')?])
}

/// `<tspan>`s for tagged (already XML-escaped) text drawn at base font size `size`.
fn tspans(content: &str, size: f64) -> String {
    let mut out = String::new();
    let mut shift = 0.0;
    let mut pieces = content.split(|c: char| RESERVED.contains(&c));
    // Text before the first tag (none is written) stays as it is.
    out.push_str(pieces.next().unwrap_or(""));
    let tags = content.chars().filter(|c| RESERVED.contains(c));
    for (tag, text) in tags.zip(pieces) {
        let Some(run) = tag_run(tag) else {
            out.push_str(text);
            continue;
        };
        let (s, run_shift) = run_metrics(&run, size);
        out.push_str("<tspan");
        if run_shift != shift {
            out.push_str(&format!(" dy=\"{}\"", svg_number(run_shift - shift)));
            shift = run_shift;
        }
        if s != size {
            out.push_str(&format!(" font-size=\"{}\"", svg_number(s / 1.24)));
        }
        out.push('>');
        out.push_str(text.trim_end_matches('\n'));
        out.push_str("</tspan>");
        if text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::style;

    #[test]
    fn scripts_change_width_and_height() {
        style::register_fonts();
        let f = style::font(style::LEGEND);
        let plain = size(&Rich::parse("δDI"), &f).unwrap();
        let sub = size(&Rich::parse("δ_{DI}"), &f).unwrap();
        let sup = size(&Rich::parse("W^{T}"), &f).unwrap();
        let flat = size(&Rich::parse("WT"), &f).unwrap();
        assert!(sub.0 < plain.0, "{sub:?} vs {plain:?}");
        assert!(sub.1 > plain.1, "{sub:?} vs {plain:?}");
        assert!(sup.0 < flat.0 && sup.1 > flat.1, "{sup:?} vs {flat:?}");
    }

    #[test]
    fn svg_tags_become_tspans() {
        let rich = Rich::with_note("δ_{DI}", Some("x"));
        let svg = format!(
            "<text x=\"1\" font-size=\"{}\" fill=\"#000\">\n{}\n</text><text>plain</text>",
            14.0 / 1.24,
            svg_encode(&rich)
        );
        let out = svg_runs(&svg);
        assert!(
            out.contains("<tspan>δ</tspan><tspan dy=\"2.8\" font-size=\"7.9\">DI</tspan>"),
            "{out}"
        );
        assert!(
            out.contains("<tspan dy=\"-2.8\" font-size=\"9.03\"> x</tspan>"),
            "{out}"
        );
        assert!(out.ends_with("<text>plain</text>"), "{out}");
        assert!(!out.chars().any(|c| RESERVED.contains(&c)), "{out}");
        assert_eq!(svg_runs("<text>a_b</text>"), "<text>a_b</text>");
    }
}
