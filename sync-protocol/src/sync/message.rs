//! Sync messages and their bounded wire encoding.
//!
//! ```text
//! message  = tag:u8 body
//! 0 hello   = version:u8 federation:[32] cursor:(0 | 1 time:u64) ranges
//! 1 ranges  = ranges
//! 2 entries = count:u32 (len:u32 entry-bytes)*
//! 3 want    = count:varint id:[16]*
//! 4 done
//! ranges   = count:varint range*
//! range    = bound payload
//! bound    = varint(0) (infinity) | varint(time - previous bound time + 1) len:u8 hash-prefix
//! payload  = 0 skip | 1 fingerprint:[16] | 2 count:varint id:[16]*
//! ```
//!
//! Bound times are deltas from the previous bound, in LEB128 varints, and a bound carries only
//! as many hash bytes as it needs to separate the keys on either side; ids are the first 16
//! bytes of entry hashes. Every count and length is checked against `limits` before anything
//! is allocated.

use crate::codec::{DecodeError, Reader, Writer};
use crate::ids::FederationId;
use crate::limits::{
    MAX_ENTRY_BYTES, MAX_IDS_COUNT, MAX_MESSAGE_BYTES, MAX_MESSAGE_ENTRIES, MAX_RANGES_COUNT,
};

use super::range::{Fingerprint, IdPrefix, SyncKey, ID_PREFIX_BYTES};

/// The protocol version a hello announces.
pub const SYNC_VERSION: u8 = 1;

/// The exclusive upper end of a range.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bound {
    /// Below this key (time, then the hash prefix: keys whose hash starts with a smaller prefix,
    /// or equal and shorter, lie below).
    Key {
        /// time
        time_ms: u64,
        /// as many leading hash bytes as needed
        prefix: Vec<u8>,
    },
    /// The end of the key space.
    Infinity,
}

impl Bound {
    /// Whether `key` lies below this bound.
    pub fn is_above(&self, key: &SyncKey) -> bool {
        match self {
            Bound::Infinity => true,
            Bound::Key { time_ms, prefix } => {
                (key.time_ms, &key.hash.0[..prefix.len()]) < (*time_ms, prefix.as_slice())
            }
        }
    }
    /// The shortest bound that lies above `below` and at or below `at`.
    pub fn between(below: Option<&SyncKey>, at: &SyncKey) -> Bound {
        let prefix_len = match below {
            Some(b) if b.time_ms == at.time_ms => {
                let common = b
                    .hash
                    .0
                    .iter()
                    .zip(at.hash.0.iter())
                    .take_while(|(x, y)| x == y)
                    .count();
                (common + 1).min(32)
            }
            _ => 0,
        };
        Bound::Key {
            time_ms: at.time_ms,
            prefix: at.hash.0[..prefix_len].to_vec(),
        }
    }
}

/// What a range says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangePayload {
    /// Settled: nothing to do.
    Skip,
    /// The sender's fingerprint of its keys in the range.
    Fingerprint(Fingerprint),
    /// Every id the sender holds in the range.
    IdList(Vec<IdPrefix>),
}

/// One range: from the previous range's bound (or the start) up to `upper`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// Exclusive upper end.
    pub upper: Bound,
    /// What the sender says of it.
    pub payload: RangePayload,
}

/// A sync message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// The initiator's first message.
    Hello {
        /// Protocol version.
        version: u8,
        /// The federation.
        federation: FederationId,
        /// The cursor the initiator proposes (time up to which both were reconciled before).
        cursor_ms: Option<u64>,
        /// The initial ranges.
        ranges: Vec<Range>,
    },
    /// A reconciliation step.
    Ranges(Vec<Range>),
    /// Entries, canonical bytes.
    Entries(Vec<Vec<u8>>),
    /// Ids of entries the sender wants.
    Want(Vec<IdPrefix>),
    /// The sender has nothing more to reconcile.
    Done,
}

/// A message that could not be decoded or is over a bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Over [`MAX_MESSAGE_BYTES`].
    #[error("sync message of {0} bytes is over the limit of {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
    /// Not a valid encoding.
    #[error("malformed sync message: {0}")]
    Malformed(#[from] DecodeError),
}

impl Message {
    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Message::Hello {
                version,
                federation,
                cursor_ms,
                ranges,
            } => {
                w.u8(0);
                w.u8(*version);
                w.array(&federation.0);
                match cursor_ms {
                    None => w.u8(0),
                    Some(c) => {
                        w.u8(1);
                        w.u64(*c);
                    }
                }
                encode_ranges(&mut w, ranges);
            }
            Message::Ranges(r) => {
                w.u8(1);
                encode_ranges(&mut w, r);
            }
            Message::Entries(es) => {
                w.u8(2);
                w.len(es.len());
                for e in es {
                    w.bytes(e);
                }
            }
            Message::Want(hs) => {
                w.u8(3);
                write_varint(&mut w, hs.len() as u64);
                for h in hs {
                    w.array(&h.0);
                }
            }
            Message::Done => w.u8(4),
        }
        w.into_bytes()
    }

    /// Decodes a message, checking every bound before allocating.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge(bytes.len()));
        }
        let mut r = Reader::new(bytes);
        let m = match r.u8("message kind")? {
            0 => {
                let version = r.u8("version")?;
                let federation = FederationId(r.array("federation")?);
                let cursor_ms = match r.u8("cursor")? {
                    0 => None,
                    1 => Some(r.u64("cursor")?),
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            field: "cursor",
                            tag,
                        }
                        .into())
                    }
                };
                Message::Hello {
                    version,
                    federation,
                    cursor_ms,
                    ranges: decode_ranges(&mut r)?,
                }
            }
            1 => Message::Ranges(decode_ranges(&mut r)?),
            2 => {
                let n = r.len("entries", MAX_MESSAGE_ENTRIES)?;
                let mut es = Vec::with_capacity(n);
                for _ in 0..n {
                    es.push(r.bytes("entry", MAX_ENTRY_BYTES)?.to_vec());
                }
                Message::Entries(es)
            }
            3 => {
                let n = read_count(&mut r, "want", MAX_IDS_COUNT)?;
                let mut hs = Vec::with_capacity(n);
                for _ in 0..n {
                    hs.push(IdPrefix(r.array::<ID_PREFIX_BYTES>("want")?));
                }
                Message::Want(hs)
            }
            4 => Message::Done,
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "message kind",
                    tag,
                }
                .into())
            }
        };
        r.finish()?;
        Ok(m)
    }
}

fn encode_ranges(w: &mut Writer, ranges: &[Range]) {
    write_varint(w, ranges.len() as u64);
    let mut prev_time = 0u64;
    for r in ranges {
        match &r.upper {
            Bound::Infinity => write_varint(w, 0),
            Bound::Key { time_ms, prefix } => {
                // Bounds increase (the session builds them so); a decreasing time cannot be
                // expressed and is clamped, which the decoder then refuses as non-increasing.
                let delta = time_ms.saturating_sub(prev_time);
                write_varint(w, delta.saturating_add(1));
                prev_time = *time_ms;
                w.u8(prefix.len() as u8);
                w.array(prefix);
            }
        }
        match &r.payload {
            RangePayload::Skip => w.u8(0),
            RangePayload::Fingerprint(f) => {
                w.u8(1);
                w.array(&f.0);
            }
            RangePayload::IdList(ids) => {
                w.u8(2);
                write_varint(w, ids.len() as u64);
                for id in ids {
                    w.array(&id.0);
                }
            }
        }
    }
}

/// Longest LEB128 encoding of a `u64`.
const MAX_VARINT_BYTES: usize = 10;

fn write_varint(w: &mut Writer, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            w.u8(byte);
            return;
        }
        w.u8(byte | 0x80);
    }
}

fn read_varint(r: &mut Reader<'_>, field: &'static str) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    for i in 0..MAX_VARINT_BYTES {
        let b = r.u8(field)?;
        let bits = u64::from(b & 0x7f);
        if i == MAX_VARINT_BYTES - 1 && bits > 1 {
            break;
        }
        v |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError::Invalid {
        field,
        reason: "varint longer than a u64".into(),
    })
}

fn read_count(r: &mut Reader<'_>, field: &'static str, limit: usize) -> Result<usize, DecodeError> {
    let n = read_varint(r, field)?;
    if n > limit as u64 {
        return Err(DecodeError::TooLong {
            field,
            limit,
            actual: usize::try_from(n).unwrap_or(usize::MAX),
        });
    }
    Ok(n as usize)
}

fn decode_ranges(r: &mut Reader<'_>) -> Result<Vec<Range>, MessageError> {
    let n = read_count(r, "ranges", MAX_RANGES_COUNT)?;
    let mut out: Vec<Range> = Vec::with_capacity(n);
    let mut ids_total = 0usize;
    let mut prev_time = 0u64;
    for _ in 0..n {
        let upper = match read_varint(r, "bound")? {
            0 => Bound::Infinity,
            d => {
                let time_ms = prev_time.checked_add(d - 1).ok_or(DecodeError::Invalid {
                    field: "bound",
                    reason: "time overflows".into(),
                })?;
                prev_time = time_ms;
                let len = r.u8("bound prefix")? as usize;
                if len > 32 {
                    return Err(DecodeError::TooLong {
                        field: "bound prefix",
                        limit: 32,
                        actual: len,
                    }
                    .into());
                }
                let mut prefix = vec![0u8; len];
                for b in prefix.iter_mut() {
                    *b = r.u8("bound prefix")?;
                }
                Bound::Key { time_ms, prefix }
            }
        };
        if out.last().is_some_and(|prev| prev.upper >= upper) {
            return Err(DecodeError::Invalid {
                field: "ranges",
                reason: "bounds must increase".into(),
            }
            .into());
        }
        let payload = match r.u8("range payload")? {
            0 => RangePayload::Skip,
            1 => RangePayload::Fingerprint(Fingerprint(r.array("fingerprint")?)),
            2 => {
                let k = read_count(r, "id list", MAX_IDS_COUNT - ids_total)?;
                ids_total += k;
                let mut ids = Vec::with_capacity(k);
                for _ in 0..k {
                    ids.push(IdPrefix(r.array::<ID_PREFIX_BYTES>("id")?));
                }
                RangePayload::IdList(ids)
            }
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "range payload",
                    tag,
                }
                .into())
            }
        };
        out.push(Range { upper, payload });
    }
    Ok(out)
}
