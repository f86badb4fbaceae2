//! Bounds on Automerge changes: raw size, compressed chunks inside entries, deflate bombs.

use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::*;
use crate::testkit::Federation;

/// A compressed change chunk: magic, a (wrong, unchecked here) checksum, type 2, the uleb128
/// length of the body, and the deflate of `inflated_len` zero bytes.
fn compressed_chunk(inflated_len: usize) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
    enc.write_all(&vec![0u8; inflated_len]).unwrap();
    let body = enc.finish().unwrap();
    let mut chunk = CHUNK_MAGIC.to_vec();
    chunk.extend_from_slice(&[0, 0, 0, 0]);
    chunk.push(CHUNK_TYPE_COMPRESSED);
    let mut n = body.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            chunk.push(byte);
            break;
        }
        chunk.push(byte | 0x80);
    }
    chunk.extend_from_slice(&body);
    chunk
}

/// A real change of a fixture initiative.
fn real_change() -> AutomergeChange {
    let mut fed = Federation::new();
    let (_, entries) = fed.new_initiative("cdcs-a", "Cải tiến khuôn ép nhựa", false);
    match entries[0].body() {
        crate::entry::EntryBody::RecordChange(c) => c.change.clone(),
        _ => unreachable!(),
    }
}

#[test]
fn entry_bytes_over_the_limit_are_refused_before_parsing() {
    let mut bytes = real_change().bytes().to_vec();
    bytes.resize(MAX_CHANGE_BYTES + 1, 0);
    assert_eq!(
        AutomergeChange::from_entry_bytes(&bytes),
        Err(ChangeError::TooLarge("raw"))
    );
    assert_eq!(
        AutomergeChange::from_automerge_bytes(&bytes),
        Err(ChangeError::TooLarge("compressed"))
    );
}

#[test]
fn compressed_chunk_in_an_entry_is_refused() {
    assert_eq!(
        AutomergeChange::from_entry_bytes(&compressed_chunk(100)),
        Err(ChangeError::CompressedInEntry)
    );
    // Even Automerge's own compressed form of a genuine change.
    let mut am = real_change().to_automerge();
    let compressed = am.bytes().into_owned();
    assert_eq!(compressed[8], CHUNK_TYPE_COMPRESSED);
    assert_eq!(
        AutomergeChange::from_entry_bytes(&compressed),
        Err(ChangeError::CompressedInEntry)
    );
}

#[test]
fn genuine_compressed_change_is_normalised_to_its_uncompressed_form() {
    let change = real_change();
    let mut am = change.to_automerge();
    let compressed = am.bytes().into_owned();
    assert!(compressed.len() < change.bytes().len());
    let normalised = AutomergeChange::from_automerge_bytes(&compressed).unwrap();
    assert_eq!(normalised, change);
    assert_eq!(normalised.bytes()[8], CHUNK_TYPE_CHANGE);
    assert_eq!(
        AutomergeChange::from_entry_bytes(normalised.bytes()),
        Ok(change)
    );
}

#[test]
fn deflate_bomb_is_refused_without_inflating_past_the_limit() {
    let bomb = compressed_chunk(MAX_CHANGE_BYTES + 1024 * 1024);
    assert!(bomb.len() < 16 * 1024, "{} bytes", bomb.len());
    assert_eq!(
        AutomergeChange::from_automerge_bytes(&bomb),
        Err(ChangeError::TooLarge("decompressed"))
    );
    // One byte over the bound is over; exactly at it passes the bound (and then fails to parse
    // as a change, since it is only zeros).
    assert_eq!(
        AutomergeChange::from_automerge_bytes(&compressed_chunk(MAX_CHANGE_BYTES + 1)),
        Err(ChangeError::TooLarge("decompressed"))
    );
    assert!(matches!(
        AutomergeChange::from_automerge_bytes(&compressed_chunk(MAX_CHANGE_BYTES)),
        Err(ChangeError::NotAChange(_))
    ));
}

#[test]
fn bytes_that_are_not_a_change_chunk_are_refused() {
    for bytes in [
        &b""[..],
        &[0x85, 0x6f, 0x4a][..],
        &[1, 2, 3, 4, 5, 6, 7, 8, 1][..],
    ] {
        assert!(matches!(
            AutomergeChange::from_entry_bytes(bytes),
            Err(ChangeError::NotAChange(_))
        ));
    }
    // A document chunk (type 0) is not a change.
    let mut doc_chunk = CHUNK_MAGIC.to_vec();
    doc_chunk.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        AutomergeChange::from_entry_bytes(&doc_chunk),
        Err(ChangeError::NotAChange(_))
    ));
    // A change chunk with a bad checksum.
    let mut bytes = real_change().bytes().to_vec();
    bytes[4] ^= 1;
    assert!(matches!(
        AutomergeChange::from_entry_bytes(&bytes),
        Err(ChangeError::NotAChange(_))
    ));
    // The same for a genuine compressed chunk.
    let mut compressed = real_change().to_automerge().bytes().into_owned();
    compressed[4] ^= 1;
    assert!(matches!(
        AutomergeChange::from_automerge_bytes(&compressed),
        Err(ChangeError::NotAChange(_))
    ));
    // A truncated compressed chunk.
    let mut truncated = compressed_chunk(100);
    truncated.truncate(truncated.len() - 1);
    assert!(matches!(
        AutomergeChange::from_automerge_bytes(&truncated),
        Err(ChangeError::NotAChange(_))
    ));
}
