//! Bounded, NFC-normalised text: the only way free text enters a record or an entry.

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
    /// Contains a control character other than newline and tab.
    #[error("{field} contains a control character (U+{code:04X})")]
    Control {
        /// which field
        field: &'static str,
        /// the code point
        code: u32,
    },
}

/// Text that is NFC-normalised, trimmed, free of control characters and within a bound.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Text(String);

impl Text {
    /// Normalises `s` to NFC, trims it and checks it against `limit` characters. Empty text is
    /// accepted here; use [`Text::required`] for fields that must be filled in.
    pub fn new(field: &'static str, s: &str, limit: usize) -> Result<Self, TextError> {
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
        if let Some(c) = n
            .chars()
            .find(|c| c.is_control() && *c != '\n' && *c != '\t')
        {
            return Err(TextError::Control {
                field,
                code: c as u32,
            });
        }
        Ok(Self(n))
    }
    /// Like [`Text::new`], and refuses empty text.
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
