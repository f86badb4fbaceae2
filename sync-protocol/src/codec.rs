//! The canonical binary encoding of entries.
//!
//! Hand-written rather than serde-derived because the bytes are signed and hashed: there must be
//! exactly one encoding of each value, and the decoder must reject every other one (an
//! over-long length, a non-NFC string, trailing bytes). The rules:
//!
//! - integers: fixed-width big-endian (`u8`, `u32`, `u64`), so there is no non-minimal form;
//! - byte arrays of fixed size: raw;
//! - byte strings and text: `u32` length, then the bytes; text must be UTF-8 and NFC;
//! - sequences: `u32` count, then the items;
//! - options and enums: a `u8` tag, then the payload.
//!
//! Every length is checked against the caller's limit before anything is allocated.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// What is wrong with bytes that should be a canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before a field was complete.
    #[error("truncated: {field} needs {needed} more bytes")]
    Truncated {
        /// the field being read
        field: &'static str,
        /// how many bytes were missing
        needed: usize,
    },
    /// A length prefix exceeds the limit for its field.
    #[error("{field} is {actual} long, over its limit of {limit}")]
    TooLong {
        /// the field being read
        field: &'static str,
        /// the limit
        limit: usize,
        /// the length found
        actual: usize,
    },
    /// Text that is not valid UTF-8.
    #[error("{field} is not valid UTF-8")]
    NotUtf8 {
        /// the field being read
        field: &'static str,
    },
    /// Text that is not in Unicode normalisation form C.
    #[error("{field} is not NFC-normalised")]
    NotNfc {
        /// the field being read
        field: &'static str,
    },
    /// A tag byte with no meaning for its field.
    #[error("{field} has unknown tag {tag}")]
    UnknownTag {
        /// the field being read
        field: &'static str,
        /// the tag found
        tag: u8,
    },
    /// Bytes left over after a complete value.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// A field whose value breaks its own rule (e.g. a unit id with a capital letter).
    #[error("{field} is invalid: {reason}")]
    Invalid {
        /// the field being read
        field: &'static str,
        /// why
        reason: String,
    },
}

/// Appends canonical encodings to a byte vector.
#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
    /// Writes one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Writes a big-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Writes a big-endian `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Writes a fixed-size array.
    pub fn array(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// Writes a length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.len(v.len());
        self.buf.extend_from_slice(v);
    }
    /// Writes length-prefixed text. The caller's types guarantee it is NFC.
    pub fn text(&mut self, v: &str) {
        debug_assert!(is_nfc(v), "text written to an entry must be NFC");
        self.bytes(v.as_bytes());
    }
    /// Writes a count or length prefix.
    pub fn len(&mut self, n: usize) {
        let n = u32::try_from(n).expect("lengths are bounded far below u32::MAX by limits");
        self.u32(n);
    }
    /// Writes a boolean as one byte.
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
}

/// Reads canonical encodings from a byte slice, checking every bound.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }
    /// How many bytes have been consumed.
    pub fn position(&self) -> usize {
        self.pos
    }
    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let left = self.input.len() - self.pos;
        if left == 0 {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(left))
        }
    }
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let left = self.input.len() - self.pos;
        if n > left {
            return Err(DecodeError::Truncated {
                field,
                needed: n - left,
            });
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Reads one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }
    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Reads a big-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let b = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }
    /// Reads a boolean, rejecting any byte but 0 and 1.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::UnknownTag { field, tag }),
        }
    }
    /// Reads a count prefix and checks it against `limit` before anything is allocated.
    pub fn len(&mut self, field: &'static str, limit: usize) -> Result<usize, DecodeError> {
        let n = self.u32(field)? as usize;
        if n > limit {
            return Err(DecodeError::TooLong {
                field,
                limit,
                actual: n,
            });
        }
        Ok(n)
    }
    /// Reads a length-prefixed byte string of at most `limit` bytes.
    pub fn bytes(&mut self, field: &'static str, limit: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.len(field, limit)?;
        self.take(n, field)
    }
    /// Reads length-prefixed text: at most `limit_bytes` bytes, UTF-8, NFC.
    pub fn text(
        &mut self,
        field: &'static str,
        limit_bytes: usize,
    ) -> Result<&'a str, DecodeError> {
        let b = self.bytes(field, limit_bytes)?;
        let s = std::str::from_utf8(b).map_err(|_| DecodeError::NotUtf8 { field })?;
        if !is_nfc(s) {
            return Err(DecodeError::NotNfc { field });
        }
        Ok(s)
    }
}

/// Whether `s` is in Unicode normalisation form C.
pub fn is_nfc(s: &str) -> bool {
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => true,
        IsNormalized::No => false,
        IsNormalized::Maybe => s.nfc().eq(s.chars()),
    }
}

#[cfg(test)]
mod tests;
