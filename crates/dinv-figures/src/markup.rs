//! The light text markup of titles, axis labels and legend entries: subscripts and
//! superscripts, parsed into runs of text at three levels (base, sub, super).
//!
//! The rules (also in the crate documentation):
//! - `_{DI}` and `^{T}`: the braced text as a subscript or superscript. Braces do not
//!   nest and markup inside them stays literal.
//! - `_1` and `^T`: one letter or digit as a subscript or superscript, but only when no
//!   further letter or digit follows. `δ_DI`, `x_10`, `fig3_gn_linear` and `2^10` stay
//!   literal, so existing labels keep their look; write `δ_{DI}` or `x_{10}`.
//! - `\_`, `\^`, `\{`, `\}` and `\\` stand for the character itself; a backslash before
//!   anything else is literal.
//! - Everything else, including a `_` or `^` that starts none of the above, is literal.

/// Vertical position of a run of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Base,
    Sub,
    Super,
}

/// A run of text at one level; `small` runs are legend notes (smaller type).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    pub text: String,
    pub level: Level,
    pub small: bool,
}

/// Text as runs; adjacent runs of the same look are merged, empty ones dropped.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Rich {
    pub runs: Vec<Run>,
}

/// Private-use characters that [`crate::text`] uses to mark runs inside SVG text;
/// they are removed from input so user text can never forge them.
pub(crate) const RESERVED: std::ops::RangeInclusive<char> = '\u{e000}'..='\u{e00f}';

impl Rich {
    /// Parses `markup` by the rules in the module documentation.
    pub fn parse(markup: &str) -> Rich {
        let mut rich = Rich::default();
        rich.push_markup(markup, false);
        rich
    }

    /// `label` followed by `note` in smaller type (both may hold markup).
    pub fn with_note(label: &str, note: Option<&str>) -> Rich {
        let mut rich = Rich::parse(label);
        if let Some(note) = note.filter(|n| !n.is_empty()) {
            rich.push(" ", Level::Base, true);
            rich.push_markup(note, true);
        }
        rich
    }

    /// The text itself when it is one plain run, which is drawn exactly as before
    /// markup existed.
    pub fn as_plain(&self) -> Option<&str> {
        match &self.runs[..] {
            [] => Some(""),
            [run] if run.level == Level::Base && !run.small => Some(&run.text),
            _ => None,
        }
    }

    /// The characters without markup.
    #[cfg(test)]
    pub fn flat(&self) -> String {
        self.runs.iter().map(|r| r.text.as_str()).collect()
    }

    fn push(&mut self, text: &str, level: Level, small: bool) {
        if text.is_empty() {
            return;
        }
        match self.runs.last_mut() {
            Some(last) if last.level == level && last.small == small => last.text.push_str(text),
            _ => self.runs.push(Run {
                text: text.to_string(),
                level,
                small,
            }),
        }
    }

    fn push_markup(&mut self, markup: &str, small: bool) {
        let chars: Vec<char> = markup.chars().filter(|c| !RESERVED.contains(c)).collect();
        let mut base = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '\\' if matches!(chars.get(i + 1), Some('_' | '^' | '{' | '}' | '\\')) => {
                    base.push(chars[i + 1]);
                    i += 2;
                }
                '_' | '^' => {
                    let level = if c == '_' { Level::Sub } else { Level::Super };
                    match script(&chars, i + 1) {
                        Some((text, next)) => {
                            self.push(&std::mem::take(&mut base), Level::Base, small);
                            self.push(&text, level, small);
                            i = next;
                        }
                        None => {
                            base.push(c);
                            i += 1;
                        }
                    }
                }
                _ => {
                    base.push(c);
                    i += 1;
                }
            }
        }
        self.push(&base, Level::Base, small);
    }
}

/// The script text starting at `chars[at]` (just after `_` or `^`) and the index after
/// it, or `None` if what follows is not a script by the rules.
fn script(chars: &[char], at: usize) -> Option<(String, usize)> {
    match chars.get(at)? {
        '{' => {
            let mut text = String::new();
            let mut i = at + 1;
            while i < chars.len() {
                match chars[i] {
                    '}' => return Some((text, i + 1)),
                    '\\' if matches!(chars.get(i + 1), Some('_' | '^' | '{' | '}' | '\\')) => {
                        text.push(chars[i + 1]);
                        i += 2;
                    }
                    c => {
                        text.push(c);
                        i += 1;
                    }
                }
            }
            None // unclosed: literal
        }
        c if c.is_alphanumeric() => {
            let next_is_word = chars.get(at + 1).is_some_and(|n| n.is_alphanumeric());
            (!next_is_word).then(|| (c.to_string(), at + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(markup: &str) -> Vec<(&'static str, String)> {
        Rich::parse(markup)
            .runs
            .into_iter()
            .map(|r| {
                let level = match r.level {
                    Level::Base => "base",
                    Level::Sub => "sub",
                    Level::Super => "sup",
                };
                (level, r.text)
            })
            .collect()
    }

    fn r(level: &'static str, text: &str) -> (&'static str, String) {
        (level, text.to_string())
    }

    #[test]
    fn braces_and_single_characters_are_scripts() {
        assert_eq!(runs("δ_{DI}"), [r("base", "δ"), r("sub", "DI")]);
        assert_eq!(
            runs("W^{T} B"),
            [r("base", "W"), r("sup", "T"), r("base", " B")]
        );
        assert_eq!(runs("x_1"), [r("base", "x"), r("sub", "1")]);
        assert_eq!(
            runs("W_1 vs W_2."),
            [
                r("base", "W"),
                r("sub", "1"),
                r("base", " vs W"),
                r("sub", "2"),
                r("base", ".")
            ]
        );
        assert_eq!(
            runs("a_{i}^{2}"),
            [r("base", "a"), r("sub", "i"), r("sup", "2")]
        );
        assert_eq!(runs("^{-1}"), [r("sup", "-1")]);
    }

    #[test]
    fn words_after_underscores_stay_literal() {
        for plain in [
            "δ_DI vs δ_PBP",
            "fig3_gn_linear",
            "x_10",
            "2^10 steps",
            "a_ b",
            "trailing_",
            "x_{open",
            "a \\ b",
            "",
        ] {
            let rich = Rich::parse(plain);
            assert_eq!(rich.as_plain(), Some(plain), "{plain:?}: {:?}", rich.runs);
        }
    }

    #[test]
    fn escapes_give_the_character() {
        assert_eq!(Rich::parse("x\\_1").as_plain(), Some("x_1"));
        assert_eq!(Rich::parse("\\^\\{\\}\\\\").as_plain(), Some("^{}\\"));
        assert_eq!(runs("x_{a\\}b}"), [r("base", "x"), r("sub", "a}b")]);
        // Markup inside braces is literal.
        assert_eq!(runs("x_{a_b}"), [r("base", "x"), r("sub", "a_b")]);
    }

    #[test]
    fn notes_are_small_and_reserved_characters_vanish() {
        let rich = Rich::with_note("NDI", Some("same as DI within 10^{-4}°"));
        assert_eq!(rich.as_plain(), None);
        assert_eq!(rich.flat(), "NDI same as DI within 10-4°");
        assert!(rich.runs[1..].iter().all(|r| r.small));
        assert!(!rich.runs[0].small);
        assert_eq!(Rich::with_note("NDI", Some("")).as_plain(), Some("NDI"));
        assert_eq!(Rich::parse("a\u{e001}b").as_plain(), Some("ab"));
    }
}
