use super::identity::peer_of_certificate;
use super::*;

use std::time::Duration;

use ed25519_dalek::SigningKey;
use sync_protocol::ids::{UnitId, UnitKey};

fn check_backoff(seed: u64, base_ms: u64, max_ms: u64, calls: u32) {
    let mut b = Backoff::with_bounds(seed, base_ms, max_ms);
    for n in 0..calls {
        let ceiling = base_ms.saturating_mul(1u64 << n.min(62)).min(max_ms);
        let d = b.next_delay();
        assert!(
            d >= Duration::from_millis(ceiling / 2) && d <= Duration::from_millis(ceiling),
            "delay {n} = {d:?} outside [{}, {ceiling}] ms",
            ceiling / 2
        );
    }
}

#[test]
fn backoff_delays_stay_within_their_bounds() {
    for seed in 0..50 {
        check_backoff(seed, RECONNECT_BASE_DELAY_MS, RECONNECT_MAX_DELAY_MS, 100);
        check_backoff(seed, 1, 1, 10);
        check_backoff(seed, 1, u64::MAX, 80);
    }
}

#[test]
fn backoff_reaches_the_maximum_and_reset_starts_again() {
    let mut b = Backoff::new(7);
    let delays: Vec<Duration> = (0..30).map(|_| b.next_delay()).collect();
    let max = Duration::from_millis(RECONNECT_MAX_DELAY_MS);
    assert!(delays.iter().all(|d| *d <= max));
    assert!(
        delays[29] >= max / 2,
        "the ceiling saturates at the maximum"
    );
    assert_eq!(b.attempts(), 30);
    b.reset();
    assert_eq!(b.attempts(), 0);
    assert!(b.next_delay() <= Duration::from_millis(RECONNECT_BASE_DELAY_MS));
}

#[test]
fn backoff_is_a_function_of_its_seed() {
    let run = |seed| {
        let mut b = Backoff::new(seed);
        (0..20).map(|_| b.next_delay()).collect::<Vec<_>>()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43), "jitter differs between seeds");
}

#[test]
fn the_certificate_carries_the_unit_and_its_key() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let unit = UnitId::new("hn-q-hoan-kiem").unwrap();
    let identity = QuicIdentity::new(unit.clone(), &key).unwrap();
    assert_eq!(identity.unit(), &unit);
    assert_eq!(
        identity.public_key(),
        UnitKey(key.verifying_key().to_bytes())
    );
    let (read_unit, read_key) = peer_of_certificate(identity.certificate()).unwrap();
    assert_eq!((read_unit, read_key), (unit, identity.public_key()));
    assert!(!format!("{identity:?}").contains(&hex::encode(key.to_bytes())));
}

#[test]
fn garbage_is_not_a_certificate() {
    let garbage = rustls::pki_types::CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    assert!(peer_of_certificate(&garbage).is_err());
}

#[test]
fn close_codes_round_trip() {
    for code in 0..10 {
        if let Some(c) = CloseCode::from_code(code) {
            assert_eq!(c.code(), code);
        }
    }
    assert_eq!(CloseCode::from_code(1), Some(CloseCode::FrameTooLarge));
}
