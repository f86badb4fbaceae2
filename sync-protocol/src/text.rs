//! Bounded, NFC-normalised text: the only way free text enters a record or an entry.
//!
//! Two kinds, because text ends up on paper that officers stamp and sign (Mẫu 2) and in cells
//! of spreadsheets: a **line** (titles, names, unit names, officer names and titles, decision
//! numbers, phase names, rewards: [`Text::new`], [`Text::required`]) holds no line break and no
//! control character at all; a **multi-line** text (description sections, summary, notes:
//! [`Text::multiline`]) keeps line breaks (`\n`) and tabs and refuses every other control
//! character. Both refuse the characters that change the direction of the text around them
//! (bidi embeddings, overrides, isolates and marks) and the invisible ones (zero-width spaces
//! and joiners, word joiner, byte-order mark, soft hyphen, fillers): they let two names that
//! look the same differ, or a printed line say something else than the stored one.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A required field was empty (or only spaces).
    #[error("{field} is required")]
    Empty {
        /// which field
        field: &'static str,
    },
    /// Longer than the field's bound.
    #[error("{field} is {actual} characters long, over its limit of {limit}")]
    TooLong {
        /// which field
        field: &'static str,
        /// the limit in characters
        limit: usize,
        /// the length in characters
        actual: usize,
    },
    /// Contains a control character (other than newline and tab in a multi-line field).
    #[error("{field} contains a control character (U+{code:04X})")]
    Control {
        /// which field
        field: &'static str,
        /// the code point
        code: u32,
    },
    /// A one-line field contains a line break (newline, carriage return, line or paragraph
    /// separator).
    #[error("{field} must be one line; it contains a line break (U+{code:04X})")]
    LineBreak {
        /// which field
        field: &'static str,
        /// the code point
        code: u32,
    },
    /// Contains a character that changes the direction of the text around it, or an invisible
    /// one.
    #[error("{field} contains an invisible or direction-changing character (U+{code:04X})")]
    Invisible {
        /// which field
        field: &'static str,
        /// the code point
        code: u32,
    },
}

impl TextError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            TextError::Empty { field }
            | TextError::TooLong { field, .. }
            | TextError::Control { field, .. }
            | TextError::LineBreak { field, .. }
            | TextError::Invisible { field, .. } => field,
        }
    }
}

/// Whether a text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line: no line break, no control character.
    One,
    /// Line breaks and tabs kept; no other control character.
    Many,
}

/// Whether `c` changes the direction of the text around it (bidi embeddings, overrides,
/// isolates, marks) or is invisible (zero-width space, non-joiner, joiner, word joiner,
/// invisible operators, byte-order mark, soft hyphen, combining grapheme joiner, Mongolian
/// vowel separator and variation selectors, Khmer inherent vowels, Hangul fillers, variation
/// selectors, interlinear annotation marks).
pub fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F
            | 0x1160
            | 0x17B4
            | 0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB
            | 0xE0000..=0xE007F
    )
}

/// The first character `s` may not hold as text of kind `lines`, as its error.
fn refused_char(field: &'static str, s: &str, lines: Lines) -> Option<TextError> {
    s.chars().find_map(|c| {
        let code = c as u32;
        match (c, lines) {
            ('\n' | '\t', Lines::Many) => None,
            ('\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}', _) => {
                Some(TextError::LineBreak { field, code })
            }
            _ if c.is_control() => Some(TextError::Control { field, code }),
            _ if is_invisible_or_bidi(c) => Some(TextError::Invisible { field, code }),
            _ => None,
        }
    })
}

/// Text that is NFC-normalised, trimmed, within a bound, and free of control, invisible and
/// direction-changing characters (line breaks and tabs only in multi-line text).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Text(String);

impl Text {
    /// One line of text: normalises `s` to NFC, trims it and checks it against `limit`
    /// characters and the rules of [`Lines::One`]. Empty text is accepted here; use
    /// [`Text::required`] for fields that must be filled in.
    pub fn new(field: &'static str, s: &str, limit: usize) -> Result<Self, TextError> {
        Self::with_lines(field, s, limit, Lines::One)
    }
    /// Multi-line text ([`Lines::Many`]): description sections, summary, notes.
    pub fn multiline(field: &'static str, s: &str, limit: usize) -> Result<Self, TextError> {
        Self::with_lines(field, s, limit, Lines::Many)
    }
    /// Text of either kind; `required` refuses empty text.
    pub fn checked(
        field: &'static str,
        s: &str,
        limit: usize,
        lines: Lines,
        required: bool,
    ) -> Result<Self, TextError> {
        let t = Self::with_lines(field, s, limit, lines)?;
        if required && t.0.is_empty() {
            return Err(TextError::Empty { field });
        }
        Ok(t)
    }
    fn with_lines(
        field: &'static str,
        s: &str,
        limit: usize,
        lines: Lines,
    ) -> Result<Self, TextError> {
        let trimmed = s.trim();
        // Most text arrives already NFC (every stored record's does): the quick check proves it
        // without decomposing and recomposing.
        let n: String = match unicode_normalization::is_nfc_quick(trimmed.chars()) {
            unicode_normalization::IsNormalized::Yes => trimmed.to_owned(),
            _ => trimmed.nfc().collect(),
        };
        let count = n.chars().count();
        if count > limit {
            return Err(TextError::TooLong {
                field,
                limit,
                actual: count,
            });
        }
        if let Some(e) = refused_char(field, &n, lines) {
            return Err(e);
        }
        Ok(Self(n))
    }
    /// Like [`Text::new`] (one line), and refuses empty text.
    pub fn required(field: &'static str, s: &str, limit: usize) -> Result<Self, TextError> {
        let t = Self::new(field, s, limit)?;
        if t.0.is_empty() {
            return Err(TextError::Empty { field });
        }
        Ok(t)
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Folds text for search: NFD, combining marks dropped, `đ` → `d`, lower case. So "sang kien"
/// matches "sáng kiến" and "phu yen" matches "Phú Yên".
pub fn fold_for_search(s: &str) -> String {
    s.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_refuses_line_breaks_and_every_control_naming_field_and_character() {
        for (s, code) in [
            ("Sáng kiến\nQuyết định số 99", 0x0A),
            ("a\rb", 0x0D),
            ("a\u{2028}b", 0x2028),
            ("a\u{2029}b", 0x2029),
            ("a\u{85}b", 0x85),
        ] {
            let e = Text::new("title", s, 300).unwrap_err();
            assert_eq!(
                e,
                TextError::LineBreak {
                    field: "title",
                    code
                }
            );
            assert!(e.to_string().starts_with("title must be one line"), "{e}");
            assert!(e.to_string().contains(&format!("U+{code:04X}")), "{e}");
        }
        assert_eq!(
            Text::new("title", "a\tb", 300).unwrap_err(),
            TextError::Control {
                field: "title",
                code: 9
            }
        );
        assert_eq!(
            Text::new("unit name", "a\u{1B}[31mb", 300).unwrap_err(),
            TextError::Control {
                field: "unit name",
                code: 0x1B
            }
        );
    }

    #[test]
    fn bidi_and_invisible_characters_are_refused_in_every_kind() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{200C}',
            '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}',
        ] {
            let s = format!("Công đoàn{c} cơ sở");
            let e = Text::new("unit name", &s, 200).unwrap_err();
            assert_eq!(
                e,
                TextError::Invisible {
                    field: "unit name",
                    code: c as u32
                }
            );
            assert!(
                e.to_string().contains(&format!("U+{:04X}", c as u32)),
                "{e}"
            );
            assert!(Text::multiline("summary", &s, 2000).is_err());
        }
    }

    #[test]
    fn multi_line_keeps_line_breaks_and_tabs_only() {
        let t = Text::multiline("summary", "Dòng một\nDòng hai\tcột", 2000).unwrap();
        assert_eq!(t.as_str(), "Dòng một\nDòng hai\tcột");
        assert_eq!(
            Text::multiline("summary", "a\r\nb", 2000).unwrap_err(),
            TextError::LineBreak {
                field: "summary",
                code: 0x0D
            }
        );
        assert_eq!(
            Text::multiline("summary", "a\u{7}b", 2000).unwrap_err(),
            TextError::Control {
                field: "summary",
                code: 7
            }
        );
        // Vietnamese, with every diacritic, and ordinary punctuation pass.
        let vi = "Cải tiến khuôn dập ĐỨC-Ơ (ữ, ỷ, ặ): «50 %» — số 12/QĐ-LĐLĐ";
        assert_eq!(Text::required("title", vi, 300).unwrap().as_str(), vi);
    }
}
