//! Entry encoding tests: round trips (property), single-bit corruption (property), limits, the
//! golden vector of format version 1, and hand-made non-canonical encodings.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::*;
use crate::testkit::{key_of, resign, unit, Federation};
use crate::verify::{verify_entry, VerifyOptions};

// ---- strategies ---------------------------------------------------------------------------

/// Text of 1 to `max` arbitrary printable characters, as `Text::new` canonicalises it.
fn text_strategy(min: usize, max: usize, limit: usize) -> impl Strategy<Value = Text> {
    proptest::string::string_regex(&format!("\\PC{{{min},{max}}}"))
        .expect("valid regex")
        .prop_filter_map("empty after trimming", move |s| {
            let t = Text::new("text", &s, limit).ok()?;
            (min == 0 || !t.is_empty()).then_some(t)
        })
}

fn unit_strategy() -> impl Strategy<Value = UnitId> {
    "[a-z0-9-]{1,64}".prop_map(|s| UnitId::new(&s).expect("alphabet and length are valid"))
}

fn hash32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn kind_strategy() -> impl Strategy<Value = DecisionKind> {
    prop::sample::select(vec![
        DecisionKind::Submit,
        DecisionKind::ReturnForRevision,
        DecisionKind::Reject,
        DecisionKind::Approve,
        DecisionKind::Recognise,
        DecisionKind::Award(AwardGrade::Typical),
        DecisionKind::Award(AwardGrade::Excellent),
    ])
}

fn binding_strategy() -> impl Strategy<Value = Binding> {
    prop_oneof![
        prop::collection::btree_set(hash32(), 0..8)
            .prop_map(|s| Binding::Heads(s.into_iter().map(ChangeHash).collect())),
        hash32().prop_map(|h| Binding::Projection(EntryHash(h))),
    ]
}

fn decision_strategy() -> impl Strategy<Value = EntryBody> {
    (
        any::<[u8; 16]>(),
        kind_strategy(),
        binding_strategy(),
        proptest::option::of(hash32()),
        text_strategy(1, 50, MAX_SHORT_TEXT_CHARS),
        text_strategy(1, 50, MAX_SHORT_TEXT_CHARS),
        text_strategy(0, 50, MAX_NOTE_CHARS),
    )
        .prop_map(
            |(record, kind, binding, previous, officer_name, officer_title, note)| {
                EntryBody::Decision(Decision {
                    record: RecordId(record),
                    kind,
                    binding,
                    previous: previous.map(EntryHash),
                    officer_name,
                    officer_title,
                    note,
                })
            },
        )
}

fn revocation_strategy() -> impl Strategy<Value = EntryBody> {
    (
        unit_strategy(),
        hash32(),
        any::<u64>(),
        text_strategy(0, 50, MAX_NOTE_CHARS),
    )
        .prop_map(|(unit, key, effective_ms, reason)| {
            EntryBody::Revocation(Revocation {
                unit,
                key: UnitKey(key),
                effective_ms,
                reason,
            })
        })
}

fn unit_end_strategy() -> impl Strategy<Value = EntryBody> {
    (
        unit_strategy(),
        proptest::option::of(unit_strategy()),
        any::<u64>(),
        text_strategy(0, 50, MAX_NOTE_CHARS),
    )
        .prop_map(|(unit, successor, effective_ms, note)| {
            EntryBody::UnitEnd(UnitEnd {
                unit,
                successor,
                effective_ms,
                note,
            })
        })
}

fn entry_strategy() -> impl Strategy<Value = Entry> {
    (
        hash32(),
        unit_strategy(),
        hash32(),
        any::<u64>(),
        prop_oneof![
            decision_strategy(),
            revocation_strategy(),
            unit_end_strategy()
        ],
    )
        .prop_map(|(federation, author, seed, time_ms, body)| {
            let key = SigningKey::from_bytes(&seed);
            UnsignedEntry {
                federation: FederationId(federation),
                author,
                key: UnitKey(key.verifying_key().to_bytes()),
                time_ms,
                body,
            }
            .sign(&key)
        })
}

// ---- round trips --------------------------------------------------------------------------

proptest! {
    #[test]
    fn decode_inverts_encode(e in entry_strategy()) {
        let decoded = Entry::decode(e.bytes());
        prop_assert_eq!(decoded.as_ref(), Ok(&e));
        let decoded = decoded.unwrap();
        prop_assert_eq!(decoded.hash(), EntryHash(*blake3::hash(e.bytes()).as_bytes()));
        prop_assert_eq!(decoded.bytes(), e.bytes());
    }
}

/// One entry of every kind, from a federation with a decided confidential initiative.
fn every_kind() -> (Federation, Vec<Entry>) {
    let mut fed = Federation::new();
    let (public, change) = fed.new_initiative("cdcs-a", "Cải tiến khuôn ép nhựa", false);
    fed.import_ok(change.clone());
    let submit = fed.chain(public, None, &[("cdcs-a", DecisionKind::Submit)]);
    fed.import_ok(submit.clone());
    let (secret, secret_change) = fed.new_initiative("cdcs-a", "Quy trình bí mật", true);
    fed.import_ok(secret_change);
    let projection = fed.projection(secret);
    fed.import_ok(vec![projection.clone()]);
    let cert = fed.certify(
        "ldld-tuy-hoa",
        "cdcs-d",
        "Công đoàn cơ sở D",
        UnitRole::Grassroots,
    );
    fed.import_ok(vec![cert.clone()]);
    let rev = fed.revoke("ldld-tuy-hoa", "cdcs-d", fed.time_ms());
    let entries = vec![
        fed.genesis_entry.clone(),
        cert,
        rev,
        change[0].clone(),
        submit[0].clone(),
        projection,
    ];
    (fed, entries)
}

#[test]
fn every_kind_of_entry_round_trips() {
    let (_, entries) = every_kind();
    let kinds: Vec<&str> = entries.iter().map(|e| e.body().kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "genesis",
            "certificate",
            "revocation",
            "record-change",
            "decision",
            "projection"
        ]
    );
    for e in &entries {
        assert_eq!(Entry::decode(e.bytes()).as_ref(), Ok(e), "{e:?}");
    }
}

// ---- corruption ---------------------------------------------------------------------------

/// Flips one bit of `e` and checks the result is refused: the hash changes, and either it does
/// not decode or, if it does, verification refuses it.
fn check_flip(fed: &Federation, e: &Entry, bit: usize) -> Result<(), TestCaseError> {
    let mut bytes = e.bytes().to_vec();
    bytes[bit / 8] ^= 1 << (bit % 8);
    prop_assert_ne!(
        EntryHash(*blake3::hash(&bytes).as_bytes()),
        e.hash(),
        "hash unchanged"
    );
    match Entry::decode(&bytes) {
        Err(_) => Ok(()),
        Ok(flipped) => {
            let verdict = verify_entry(
                &fed.store,
                &fed.directory,
                &flipped,
                VerifyOptions {
                    local_unit: None,
                    now_ms: fed.now_ms(),
                    complete: true,
                },
            );
            prop_assert!(
                verdict.is_err(),
                "bit {bit} of {e:?} gives another valid entry {flipped:?} by {}",
                flipped.author()
            );
            Ok(())
        }
    }
}

#[test]
fn flipping_any_bit_of_an_entry_is_refused() {
    let (fed, entries) = every_kind();
    let mut runner = TestRunner::new(Config {
        cases: 2_048,
        ..Config::default()
    });
    let strategy = (0..entries.len(), any::<prop::sample::Index>());
    runner
        .run(&strategy, |(which, index)| {
            let e = &entries[which];
            check_flip(&fed, e, index.index(e.bytes().len() * 8))
        })
        .unwrap();
}

/// Decoding through a shared key cache gives exactly what decoding alone gives, on every
/// entry and every one-bit corruption of it (so a bad key is never cached as good).
#[test]
fn decoding_with_a_key_cache_agrees_with_decoding_alone() {
    let (_, entries) = every_kind();
    let mut cache = KeyCache::new();
    for e in &entries {
        for bit in 0..e.bytes().len() * 8 {
            let mut bytes = e.bytes().to_vec();
            bytes[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                Entry::decode_cached(&bytes, &mut cache),
                Entry::decode(&bytes)
            );
            assert_eq!(Entry::decode_cached(e.bytes(), &mut cache).as_ref(), Ok(e));
        }
    }
}

#[test]
fn flipping_each_bit_of_each_kind_is_refused() {
    // The exhaustive version of the property above: every bit of one entry of each kind.
    let (fed, entries) = every_kind();
    for e in &entries {
        for bit in 0..e.bytes().len() * 8 {
            check_flip(&fed, e, bit).unwrap();
        }
    }
}

#[test]
fn a_second_encoding_of_the_signature_is_refused() {
    // ed25519 malleability: S + L verifies under lax rules; `verify_strict` must refuse it.
    let (_, entries) = every_kind();
    let e = &entries[4];
    let mut bytes = e.bytes().to_vec();
    let n = bytes.len();
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let s = &mut bytes[n - 32..];
    let mut carry = 0u16;
    for (b, l) in s.iter_mut().zip(L) {
        let v = u16::from(*b) + u16::from(l) + carry;
        *b = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    assert_eq!(Entry::decode(&bytes), Err(EntryError::BadSignature));
}

#[test]
fn a_small_order_key_is_refused() {
    // The identity point as the key and (R = identity, S = 0) as the signature verify for any
    // message under lax rules; `verify_strict` must refuse the weak key.
    use ed25519_dalek::Verifier;
    let (_, entries) = every_kind();
    let e = &entries[4];
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut bytes = e.bytes().to_vec();
    let at = 1 + 32 + 4 + e.author().as_str().len();
    bytes[at..at + 32].copy_from_slice(&identity);
    let n = bytes.len();
    bytes[n - 64..n - 32].copy_from_slice(&identity);
    bytes[n - 32..].fill(0);
    let weak = VerifyingKey::from_bytes(&identity).unwrap();
    let msg = [ENTRY_SIGNING_CONTEXT, &bytes[..n - 64]].concat();
    let sig = Signature::from_slice(&bytes[n - 64..]).unwrap();
    assert!(weak.is_weak());
    assert!(
        weak.verify(&msg, &sig).is_ok(),
        "lax verification accepts it"
    );
    assert_eq!(Entry::decode(&bytes), Err(EntryError::BadSignature));
}

// ---- limits and canonical form ------------------------------------------------------------

fn heads(n: usize) -> Vec<ChangeHash> {
    (0..n)
        .map(|i| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_be_bytes());
            ChangeHash(h)
        })
        .collect()
}

fn signed(body: EntryBody) -> Entry {
    let fed = Federation::new();
    fed.author("ldld-tuy-hoa").sign(fed.time_ms(), body)
}

#[test]
fn heads_count_at_its_limit_decodes_and_one_more_is_refused() {
    let fed = Federation::new();
    for n in [MAX_HEADS_COUNT, MAX_HEADS_COUNT + 1] {
        let decision = signed(fed.decision_body(
            RecordId([1; 16]),
            DecisionKind::Approve,
            Binding::Heads(heads(n)),
            None,
        ));
        let projection = signed(EntryBody::Projection(projection_shape(heads(n))));
        for e in [decision, projection] {
            let got = Entry::decode(e.bytes());
            if n == MAX_HEADS_COUNT {
                assert_eq!(got.as_ref(), Ok(&e));
            } else {
                assert_eq!(
                    got,
                    Err(EntryError::Malformed(DecodeError::TooLong {
                        field: "heads",
                        limit: MAX_HEADS_COUNT,
                        actual: MAX_HEADS_COUNT + 1
                    }))
                );
            }
        }
    }
}

/// A projection of fixed fields: decoding does not look at the record.
fn projection_shape(heads: Vec<ChangeHash>) -> Projection {
    Projection {
        record: RecordId([1; 16]),
        heads,
        title: Text::required("title", "Bí mật", MAX_TITLE_CHARS).unwrap(),
        summary: Text::default(),
        benefit_vnd: 1,
        reward: Text::default(),
        programme: None,
        phase: 0,
        sector: Sector::Other,
        commitment: ContentHash([9; 32]),
    }
}

#[test]
fn unsorted_or_repeated_heads_are_not_canonical() {
    let fed = Federation::new();
    let mut h = heads(2);
    h.reverse();
    for hs in [h, vec![ChangeHash([3; 32]); 2]] {
        let e = signed(fed.decision_body(
            RecordId([1; 16]),
            DecisionKind::Approve,
            Binding::Heads(hs),
            None,
        ));
        assert!(matches!(
            Entry::decode(e.bytes()),
            Err(EntryError::Malformed(DecodeError::Invalid {
                field: "heads",
                ..
            }))
        ));
    }
}

#[test]
fn entry_over_its_size_limit_is_refused_before_decoding() {
    let bytes = vec![0u8; MAX_ENTRY_BYTES + 1];
    assert_eq!(
        Entry::decode(&bytes),
        Err(EntryError::TooLarge {
            actual: MAX_ENTRY_BYTES + 1
        })
    );
}

#[test]
fn truncated_trailing_and_unknown_version_are_malformed() {
    let (_, entries) = every_kind();
    let e = &entries[4];
    let b = e.bytes();
    assert!(matches!(
        Entry::decode(&b[..b.len() - 1]),
        Err(EntryError::Malformed(DecodeError::Truncated {
            field: "signature",
            needed: 1
        }))
    ));
    let mut longer = b.to_vec();
    longer.push(0);
    assert_eq!(
        Entry::decode(&longer),
        Err(EntryError::Malformed(DecodeError::TrailingBytes(1)))
    );
    let mut v2 = b.to_vec();
    v2[0] = ENTRY_VERSION + 1;
    assert_eq!(
        Entry::decode(&v2),
        Err(EntryError::Malformed(DecodeError::UnknownTag {
            field: "version",
            tag: ENTRY_VERSION + 1
        }))
    );
    assert!(Entry::decode(&[]).is_err());
}

/// `bytes` with the length-prefixed text `from` replaced by `to`, re-signed by `key`.
fn with_text(bytes: &[u8], from: &str, to: &str, key: &SigningKey) -> Vec<u8> {
    let prefixed = |s: &str| {
        let mut v = (s.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    };
    let (old, new) = (prefixed(from), prefixed(to));
    let at = bytes
        .windows(old.len())
        .position(|w| w == old)
        .expect("text present");
    let spliced = [&bytes[..at], &new[..], &bytes[at + old.len()..]].concat();
    resign(&spliced, key)
}

#[test]
fn text_that_is_not_canonical_is_refused_even_when_properly_signed() {
    let (fed, entries) = every_kind();
    let e = &entries[4];
    let key = fed.signing_key("cdcs-a");
    type Expected = fn(&DecodeError) -> bool;
    let cases: [(&str, Expected); 4] = [
        // Surrounding spaces.
        ("Chủ tịch ", |d| {
            matches!(
                d,
                DecodeError::Invalid {
                    field: "officer title",
                    ..
                }
            )
        }),
        // Decomposed (NFD) Vietnamese.
        ("Chu\u{309} tịch", |d| {
            matches!(
                d,
                DecodeError::NotNfc {
                    field: "officer title"
                }
            )
        }),
        // A control character.
        ("Chủ\u{7}tịch", |d| {
            matches!(
                d,
                DecodeError::Invalid {
                    field: "officer title",
                    ..
                }
            )
        }),
        // Empty where required.
        ("", |d| {
            matches!(
                d,
                DecodeError::Invalid {
                    field: "officer title",
                    ..
                }
            )
        }),
    ];
    for (bad, expected) in cases {
        let bytes = with_text(e.bytes(), "Chủ tịch", bad, key);
        match Entry::decode(&bytes) {
            Err(EntryError::Malformed(d)) => assert!(expected(&d), "{bad:?}: {d:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    // The same splice with the canonical text gives back the entry.
    let same = with_text(e.bytes(), "Chủ tịch", "Chủ tịch", key);
    assert_eq!(Entry::decode(&same).as_ref(), Ok(e));
}

#[test]
fn compressed_automerge_change_inside_an_entry_is_refused() {
    let (fed, entries) = every_kind();
    let e = &entries[3];
    let EntryBody::RecordChange(c) = e.body() else {
        unreachable!()
    };
    let raw = c.change.bytes().to_vec();
    let mut am = c.change.to_automerge();
    let compressed = am.bytes().into_owned();
    assert_eq!(
        compressed[8], 2,
        "the change should be large enough to compress"
    );
    let prefixed = |b: &[u8]| [&(b.len() as u32).to_be_bytes()[..], b].concat();
    let (old, new) = (prefixed(&raw), prefixed(&compressed));
    let at = e.bytes().windows(old.len()).position(|w| w == old).unwrap();
    let spliced = [&e.bytes()[..at], &new[..], &e.bytes()[at + old.len()..]].concat();
    let bytes = resign(&spliced, fed.signing_key("cdcs-a"));
    assert!(matches!(
        Entry::decode(&bytes),
        Err(EntryError::Malformed(DecodeError::Invalid {
            field: "automerge change",
            ..
        }))
    ));
}

// ---- the golden vector --------------------------------------------------------------------

/// The fixed entry of the golden vector: every input is a constant.
fn golden_entry() -> (Genesis, Entry) {
    let key = key_of(1);
    let genesis = Genesis {
        root_unit: unit("tld"),
        root_name: Text::required("root name", "Tổng Liên đoàn Lao động Việt Nam", 200).unwrap(),
        root_key: UnitKey(key.verifying_key().to_bytes()),
    };
    let entry = UnsignedEntry {
        federation: genesis.federation_id(),
        author: unit("tld"),
        key: genesis.root_key,
        time_ms: 1_700_000_000_000,
        body: EntryBody::Decision(Decision {
            record: RecordId([3; 16]),
            kind: DecisionKind::Award(AwardGrade::Excellent),
            binding: Binding::Heads(vec![ChangeHash([2; 32])]),
            previous: Some(EntryHash([4; 32])),
            officer_name: Text::required("officer name", "Nguyễn Đình Khang", 200).unwrap(),
            officer_title: Text::required("officer title", "Chủ tịch", 200).unwrap(),
            note: Text::new("note", "Quyết định số 123/QĐ-TLĐ", 2_000).unwrap(),
        }),
    }
    .sign(&key);
    (genesis, entry)
}

/// If this test fails, the entry format changed: that breaks every signature already made.
/// Do not update the vector; bump [`ENTRY_VERSION`] and keep decoding version 1 instead.
#[test]
fn golden_vector_v1() {
    let golden = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/decision_v1.hex"
    ));
    let field = |name: &str| -> String {
        golden
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} missing from the golden file"))
            .trim()
            .to_owned()
    };
    let (genesis, entry) = golden_entry();
    assert_eq!(genesis.federation_id().to_hex(), field("federation"));
    assert_eq!(hex::encode(entry.bytes()), field("entry"));
    assert_eq!(entry.hash().to_hex(), field("hash"));
    // And the pinned bytes decode to the same entry.
    let bytes = hex::decode(field("entry")).unwrap();
    assert_eq!(Entry::decode(&bytes).as_ref(), Ok(&entry));
    assert_eq!(ENTRY_VERSION, 1);
    assert_eq!(ENTRY_SIGNING_CONTEXT, b"sangkien entry v1\0");
}
