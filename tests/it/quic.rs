//! The QUIC transport over real sockets on 127.0.0.1: mutual authentication by unit keys against
//! the federation's trust directory, framing and its limit, and a node that keeps serving after
//! a peer misbehaves.

use std::future::Future;
use std::time::Duration;

use node::quic::{
    CloseCode, ConnectError, FederationVerifier, FrameError, PeerConnection, QuicEndpoint,
    QuicIdentity, MAX_FRAME_BYTES,
};
use node::Node;
use sync_protocol::entry::{Certificate, EntryBody, Revocation, UnitRole};
use tests::{enrol, quic_endpoint, root, text, unit, TempDir};

/// A fixed past time (October 2025) for the entries, so certificates are in force for the
/// verifier's wall clock.
const T0: u64 = 1_760_000_000_000;

/// A safety net only: every test ends by itself long before.
const SAFETY_NET: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(SAFETY_NET, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within the safety net"))
}

/// Connects `client` to `server` and returns both ends.
async fn pair(client: &QuicEndpoint, server: &QuicEndpoint) -> (PeerConnection, PeerConnection) {
    let addr = server.local_addr().unwrap();
    let (c, s) = within("connect", async {
        tokio::join!(client.connect(addr), server.accept())
    })
    .await;
    (c.expect("connected"), s.expect("accepted"))
}

/// Checks that `a` and `b` still exchange frames both ways.
async fn check_round_trip(a: &mut PeerConnection, b: &mut PeerConnection, body: &[u8]) {
    within("round trip", async {
        a.send_frame(body).await.unwrap();
        assert_eq!(b.recv_frame().await.unwrap().as_deref(), Some(body));
        b.send_frame(body).await.unwrap();
        assert_eq!(a.recv_frame().await.unwrap().as_deref(), Some(body));
    })
    .await;
}

/// Checks that a connection attempt was refused at the handshake, for the reason `why`.
fn check_refused(result: Result<PeerConnection, ConnectError>, why: &str) {
    match result {
        Err(error @ ConnectError::Connection { .. }) => {
            assert!(error.to_string().contains(why), "{error}")
        }
        Err(other) => panic!("refused for another cause: {other}"),
        Ok(c) => panic!("connected to {} instead of being refused", c.peer()),
    }
}

/// Waits until `endpoint` has counted `n` refused incoming attempts (its accepting task counts
/// them just after the peer has been told).
async fn wait_for_refusals(endpoint: &QuicEndpoint, n: u64) {
    within("refusal counted", async {
        while endpoint.handshakes_refused() < n {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// A national node and a province under it.
fn federation(tmp: &TempDir) -> (Node, Node) {
    let mut tld = root(tmp.path(), T0);
    let prov = enrol(
        &mut tld,
        tmp.path(),
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    (tld, prov)
}

#[tokio::test]
async fn two_nodes_of_one_federation_learn_each_others_unit_and_exchange_frames() {
    let tmp = TempDir::new("quic-pair");
    let (tld, prov) = federation(&tmp);
    let (server, _) = quic_endpoint(&tld);
    let (client, _) = quic_endpoint(&prov);

    let (mut c, mut s) = pair(&client, &server).await;
    assert_eq!(c.peer(), &unit("tld"));
    assert_eq!(s.peer(), &unit("ldld-phu-yen"));
    assert_eq!(
        c.peer_key(),
        QuicIdentity::for_node(&tld).unwrap().public_key()
    );
    assert_eq!(
        s.peer_key(),
        QuicIdentity::for_node(&prov).unwrap().public_key()
    );

    check_round_trip(&mut c, &mut s, b"").await;
    check_round_trip(&mut c, &mut s, "xin chào".as_bytes()).await;

    // A clean end of stream between frames is not an error.
    let (mut send, _recv) = c.split();
    send.finish().unwrap();
    assert_eq!(within("finish", s.recv_frame()).await.unwrap(), None);
}

#[tokio::test]
async fn a_frame_at_the_limit_passes_and_one_over_it_closes_that_connection() {
    let tmp = TempDir::new("quic-limit");
    let (tld, prov) = federation(&tmp);
    let (server, _) = quic_endpoint(&tld);
    let (client, _) = quic_endpoint(&prov);
    let (mut c, mut s) = pair(&client, &server).await;

    // Exactly at the limit: sent and received whole (both at once, for flow control).
    let big: Vec<u8> = (0..MAX_FRAME_BYTES).map(|i| (i % 251) as u8).collect();
    let (sent, received) = within("frame at the limit", async {
        tokio::join!(c.send_frame(&big), s.recv_frame())
    })
    .await;
    sent.unwrap();
    assert!(
        received.unwrap() == Some(big.clone()),
        "the frame arrives whole"
    );

    // Over the limit: refused by the sender before anything is sent...
    let over = vec![0u8; MAX_FRAME_BYTES + 1];
    assert!(matches!(
        within("local refusal", c.send_frame(&over)).await,
        Err(FrameError::TooLarge { len, max }) if len == MAX_FRAME_BYTES + 1 && max == MAX_FRAME_BYTES
    ));
    // ...and, announced by a peer that does not check, closing the connection at the receiver.
    let header = u32::try_from(MAX_FRAME_BYTES + 1).unwrap().to_be_bytes();
    within("raw header", c.send_raw_unchecked(&header))
        .await
        .unwrap();
    let error = within("oversized frame", s.recv_frame()).await.unwrap_err();
    assert!(
        matches!(error, FrameError::TooLarge { len, .. } if len == MAX_FRAME_BYTES + 1),
        "{error}"
    );
    let closed = within("close seen by the sender", c.closed()).await;
    assert_eq!(closed.peer_close_code(), Some(CloseCode::FrameTooLarge));
    assert!(closed.to_string().contains("MAX_FRAME_BYTES"), "{closed}");

    // The endpoint still accepts and serves a new connection.
    let (mut c2, mut s2) = pair(&client, &server).await;
    check_round_trip(&mut c2, &mut s2, b"still serving").await;
}

#[tokio::test]
async fn a_peer_outside_the_federation_is_refused_at_the_handshake() {
    let tmp = TempDir::new("quic-outsider");
    let (tld, prov) = federation(&tmp);
    // Another federation whose root even has the same unit id, with its own key.
    let other = TempDir::new("quic-outsider-other");
    let stranger = root(other.path(), T0);
    let (server, _) = quic_endpoint(&tld);
    let (outsider, _) = quic_endpoint(&stranger);
    let (member, _) = quic_endpoint(&prov);

    // The outsider connecting in is refused by the server's check.
    let refused = within(
        "outsider connects",
        outsider.connect(server.local_addr().unwrap()),
    )
    .await;
    check_refused(refused, "not valid in this federation now: Unknown");
    wait_for_refusals(&server, 1).await;
    // A member connecting out to the outsider refuses it with its own check.
    let refused = within(
        "member connects out",
        member.connect(outsider.local_addr().unwrap()),
    )
    .await;
    check_refused(refused, "not valid in this federation now: Unknown");

    // The server goes on serving members.
    let (mut c, mut s) = pair(&member, &server).await;
    check_round_trip(&mut c, &mut s, b"after the outsider").await;
}

#[tokio::test]
async fn a_revoked_unit_is_refused() {
    let tmp = TempDir::new("quic-revoked");
    let (mut tld, prov) = federation(&tmp);
    let (server, directory) = quic_endpoint(&tld);
    let (client, _) = quic_endpoint(&prov);

    // Trusted before the revocation.
    let (mut c, mut s) = pair(&client, &server).await;
    check_round_trip(&mut c, &mut s, b"before").await;
    let verifier = FederationVerifier::for_directory(directory.clone());
    assert_eq!(verifier.check_peer_now(s.peer(), &s.peer_key()), Ok(()));

    let key = QuicIdentity::for_node(&prov).unwrap().public_key();
    tld.write(
        EntryBody::Revocation(Revocation {
            unit: unit("ldld-phu-yen"),
            key,
            effective_ms: T0 + 5,
            reason: text("khoá bị lộ"),
        }),
        T0 + 10,
    )
    .expect("revocation");
    // The revocation reaches the server's trust directory.
    *directory.write().unwrap() = tld.directory().clone();

    let refused = within(
        "revoked connects",
        client.connect(server.local_addr().unwrap()),
    )
    .await;
    check_refused(refused, "not valid in this federation now: Revoked");
    wait_for_refusals(&server, 1).await;
    // A connection opened before the revocation is found out by re-checking it.
    let still = verifier.check_peer_now(s.peer(), &s.peer_key());
    assert!(still.is_err_and(|why| why.contains("Revoked")));
}

/// A node whose key is rotated while its endpoint runs presents the new key at once, when it
/// connects and when it is connected to, without rebinding; a connection opened before goes on.
#[tokio::test]
async fn an_endpoint_presents_a_rotated_key_at_once_and_keeps_its_open_connections() {
    let tmp = TempDir::new("quic-rotated");
    let (mut tld, prov) = federation(&tmp);
    let (national, directory) = quic_endpoint(&tld);
    let (province, _) = quic_endpoint(&prov);
    let old_key = QuicIdentity::for_node(&prov).unwrap().public_key();
    let (mut before_c, mut before_s) = pair(&province, &national).await;
    assert_eq!(before_s.peer_key(), old_key);

    // The national node certifies the province's new key, replacing the old one.
    let new = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let current = tld
        .directory()
        .latest_cert(&unit("ldld-phu-yen"))
        .unwrap()
        .clone();
    tld.write(
        EntryBody::Certificate(Certificate {
            unit: unit("ldld-phu-yen"),
            key: sync_protocol::ids::UnitKey(new.verifying_key().to_bytes()),
            replaces: Some(current.hash),
            ..current.cert.clone()
        }),
        T0 + 20,
    )
    .expect("rotation");
    *directory.write().unwrap() = tld.directory().clone();
    // The old key is refused now.
    let (stale, _) = quic_endpoint(&prov);
    check_refused(
        within(
            "old key connects",
            stale.connect(national.local_addr().unwrap()),
        )
        .await,
        "not valid in this federation now",
    );

    let rotated = QuicIdentity::new(unit("ldld-phu-yen"), &new).unwrap();
    province.set_identity(&rotated).expect("new identity");
    assert_eq!(province.public_key(), rotated.public_key());
    assert_eq!(&province.certificate(), rotated.certificate());
    // Outgoing: the national node sees the new key.
    let (mut c, mut s) = pair(&province, &national).await;
    assert_eq!(s.peer_key(), rotated.public_key());
    check_round_trip(&mut c, &mut s, b"out").await;
    // Incoming: so does a national node connecting to the province.
    let (mut c, mut s) = pair(&national, &province).await;
    assert_eq!(c.peer_key(), rotated.public_key());
    check_round_trip(&mut c, &mut s, b"in").await;
    // The connection opened with the old key goes on.
    check_round_trip(&mut before_c, &mut before_s, b"before").await;

    // An identity of another unit is refused.
    let other = QuicIdentity::new(unit("tld"), &new).unwrap();
    assert!(province.set_identity(&other).is_err());
    assert_eq!(province.public_key(), rotated.public_key());
}

#[tokio::test]
async fn garbage_or_a_truncated_frame_disconnects_only_that_peer() {
    let tmp = TempDir::new("quic-garbage");
    let (tld, prov) = federation(&tmp);
    let (server, _) = quic_endpoint(&tld);
    let (client, _) = quic_endpoint(&prov);
    // A well-behaved connection, open throughout.
    let (mut good_c, mut good_s) = pair(&client, &server).await;

    // Garbage: its first four bytes read as a length far over the limit.
    let (bad_c, mut bad_s) = pair(&client, &server).await;
    let (mut bad_send, _bad_recv) = bad_c.split();
    within(
        "garbage",
        bad_send.send_raw_unchecked(b"GET / HTTP/1.1\r\n\r\n"),
    )
    .await
    .unwrap();
    let error = within("garbage read", bad_s.recv_frame())
        .await
        .unwrap_err();
    assert!(matches!(error, FrameError::TooLarge { .. }), "{error}");

    // Truncated: a length of 100, then 10 bytes, then the end of the stream.
    let (bad_c, mut bad_s) = pair(&client, &server).await;
    let (mut bad_send, _bad_recv) = bad_c.split();
    within("truncated", async {
        bad_send.send_raw_unchecked(&100u32.to_be_bytes()).await?;
        bad_send.send_raw_unchecked(&[1; 10]).await?;
        bad_send.finish()
    })
    .await
    .unwrap();
    let error = within("truncated read", bad_s.recv_frame())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            FrameError::Truncated {
                expected: 100,
                got: 10
            }
        ),
        "{error}"
    );

    // A truncated length prefix.
    let (bad_c, mut bad_s) = pair(&client, &server).await;
    let (mut bad_send, _bad_recv) = bad_c.split();
    within("truncated prefix", async {
        bad_send.send_raw_unchecked(&[0, 0]).await?;
        bad_send.finish()
    })
    .await
    .unwrap();
    let error = within("truncated prefix read", bad_s.recv_frame())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            FrameError::Truncated {
                expected: 4,
                got: 2
            }
        ),
        "{error}"
    );

    // The good connection and new ones are unaffected.
    check_round_trip(&mut good_c, &mut good_s, b"unaffected").await;
    let (mut c, mut s) = pair(&client, &server).await;
    check_round_trip(&mut c, &mut s, b"new peer").await;
}

// ---- certificates travel by need: a new province's first sync ------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_provinces_first_sync_receives_only_the_certificates_it_needs() {
    use node::node::{prepare_enrolment, FederationFile};
    use sync_protocol::entry::Certificate;
    use sync_protocol::store::EntryStore;
    let tmp = TempDir::new("quic-first-sync");
    let p = tmp.path().to_owned();
    let nat_dir = p.join("tld");
    let new_dir = p.join("ldld-tra-vinh");
    {
        let mut tld = root(&p, T0);
        // Two provinces with their subtrees, all held at the national node.
        for (prov, district, grass) in [
            ("ldld-phu-yen", "ldld-tuy-hoa", "cdcs-a"),
            ("ldld-khanh-hoa", "ldld-nha-trang", "cdcs-b"),
        ] {
            let mut pn = enrol(&mut tld, &p, prov, UnitRole::ProvincialFederation, T0 + 1);
            let mut dn = enrol(&mut pn, &p, district, UnitRole::DirectSuperior, T0 + 2);
            let _ = enrol(&mut dn, &p, grass, UnitRole::Grassroots, T0 + 3);
            let trust = dn.store().trust_entries().unwrap();
            let r = tld.import(trust, T0 + 4).unwrap();
            assert!(r.rejected.is_empty() && r.quarantined.is_empty(), "{r:?}");
        }
        // A new province, enrolled with its certificate and the genesis only.
        let key = prepare_enrolment(&new_dir).unwrap();
        let cert = tld
            .write(
                EntryBody::Certificate(Certificate {
                    unit: unit("ldld-tra-vinh"),
                    name: text("Liên đoàn Lao động tỉnh Trà Vinh"),
                    role: UnitRole::ProvincialFederation,
                    parent: unit("tld"),
                    key,
                    replaces: None,
                }),
                T0 + 5,
            )
            .unwrap();
        let (ff, genesis): (FederationFile, _) = tld.federation_file().unwrap();
        let fresh = Node::create_enrolled(
            &new_dir,
            &ff,
            genesis.clone(),
            unit("ldld-tra-vinh"),
            vec![genesis, cert],
            T0 + 5,
        )
        .unwrap();
        assert_eq!(fresh.store().trust_entries().unwrap().len(), 2);
        assert_eq!(tld.store().trust_entries().unwrap().len(), 8);
        // Something in its scope to receive: a national programme.
        use sync_protocol::date::Date;
        use sync_protocol::record::{Phase, Programme, RecordContent};
        let programme = RecordContent::Programme(Programme {
            name: text("01 triệu sáng kiến"),
            phases: vec![Phase {
                name: text("Giai đoạn 1"),
                start: Date::parse("2025-01-01").unwrap(),
                end: Date::parse("2025-12-31").unwrap(),
                target: 100,
            }],
            deadlines: Vec::new(),
            campaigns: Vec::new(),
            national_target: 100,
        });
        node::records::create(&mut tld, &programme, T0 + 6).unwrap();
    }
    let national =
        node::service::Service::start(&nat_dir, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("national service");
    let national = std::sync::Arc::new(national);
    tokio::spawn(national.clone().serve());
    let addr = national.local_addr().unwrap();
    let province =
        node::service::Service::start(&new_dir, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("province service");
    let outcome = within("first sync", province.sync_with(addr))
        .await
        .expect("sync");
    province.close();
    national.close();
    drop(province);
    assert!(outcome.import.accepted >= 1, "{:?}", outcome.import);
    assert!(
        outcome.import.quarantined.is_empty(),
        "{:?}",
        outcome.import
    );
    assert!(outcome.import.rejected.is_empty(), "{:?}", outcome.import);
    // Give the service time to release the store.
    let mut n = None;
    for _ in 0..50 {
        match Node::open(&new_dir) {
            Ok(x) => {
                n = Some(x);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let n = n.expect("the province's node opens after the sync");
    assert_eq!(n.store().quarantine_len(), 0);
    let held: Vec<String> = n
        .store()
        .trust_entries()
        .unwrap()
        .iter()
        .filter_map(|e| sync_protocol::scope::trust_subject(e).map(|u| u.as_str().to_owned()))
        .collect();
    // Its own chain; nothing of the other provinces' subtrees.
    assert_eq!(held, ["ldld-tra-vinh"], "{held:?}");
}
