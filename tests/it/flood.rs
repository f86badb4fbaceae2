//! Bounded work per peer over real QUIC on 127.0.0.1 (issue 12): strangers stalling handshakes
//! and members holding sessions open cannot keep a legitimate peer from syncing, and no message
//! extends a session past its deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::quic::{CloseCode, FrameError, PeerConnection, QuicEndpoint};
use node::Node;
use sync_protocol::entry::UnitRole;
use sync_protocol::ids::FederationId;
use sync_protocol::sync::{Bound, IdPrefix, Message, Range, RangePayload, Role};
use tests::{enrol, quic_endpoint, root, TempDir};
use tokio::net::UdpSocket;

/// A fixed past time (October 2025), so certificates are in force for the wall clock.
const T0: u64 = 1_760_000_000_000;

/// How long the legitimate peer may take, from its first packet to its session's end.
const LEGITIMATE_SYNC_BOUND: Duration = Duration::from_secs(5);

/// A national node, a province (the legitimate peer) and `idle` other provinces (members that
/// will hold sessions open). Returns the national node's directory and the other nodes.
fn federation(tmp: &TempDir, idle: usize) -> (std::path::PathBuf, FederationId, Node, Vec<Node>) {
    let mut tld = root(tmp.path(), T0);
    let prov = enrol(
        &mut tld,
        tmp.path(),
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let members = (0..idle)
        .map(|i| {
            enrol(
                &mut tld,
                tmp.path(),
                &format!("ldld-idle-{i}"),
                UnitRole::ProvincialFederation,
                T0 + 2 + i as u64,
            )
        })
        .collect();
    let dir = tld.dir().to_owned();
    let federation = tld.federation();
    drop(tld);
    (dir, federation, prov, members)
}

/// A free UDP port on 127.0.0.1 (bound, read, released).
fn free_port() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

/// Runs the node service on `data` until the returned sender is dropped.
fn run_service(data: std::path::PathBuf, listen: SocketAddr) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = node::service::ServiceConfig {
        data,
        listen,
        interval_s: 300,
        log_level: "warn".into(),
        cache_mb: None,
        http_listen: None,
        http_off: true,
        web_secure_cookies: false,
        web_session_idle_s: None,
        peers: Vec::new(),
    };
    tokio::spawn(async move {
        node::service::run(config, async {
            let _ = stopped.await;
        })
        .await
        .expect("service runs");
    });
    stop
}

/// Connects `endpoint` to `addr`, retrying while the service is still starting.
async fn connect(endpoint: &QuicEndpoint, addr: SocketAddr) -> PeerConnection {
    for _ in 0..50 {
        if let Ok(c) = endpoint.connect(addr).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not connect to {addr}")
}

/// A hello that leaves the responder waiting for an entry that does not exist, so the session
/// stays open for as long as the responder allows.
fn open_hello(federation: FederationId) -> Vec<u8> {
    Message::Hello {
        version: 1,
        federation,
        cursor_ms: None,
        ranges: vec![Range {
            upper: Bound::Infinity,
            payload: RangePayload::IdList(vec![IdPrefix([9; 16])]),
        }],
    }
    .encode()
}

/// A UDP relay between a QUIC client and `server` that stalls the client's handshake the way a
/// stranger would: it passes the client's packets until the server has answered with anything
/// but a retry (its first handshake flight), then drops everything the client sends. The
/// server's side of the handshake is left waiting. The relay sends from `source_ip`.
async fn stalling_relay(server: SocketAddr, source_ip: [u8; 4]) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = UdpSocket::bind(SocketAddr::from((source_ip, 0)))
        .await
        .unwrap();
    back.connect(server).await.unwrap();
    let addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        let mut client: Option<SocketAddr> = None;
        let mut stalled = false;
        let (mut a, mut b) = ([0u8; 2048], [0u8; 2048]);
        loop {
            tokio::select! {
                r = front.recv_from(&mut a) => {
                    let Ok((n, from)) = r else { return };
                    client = Some(from);
                    if !stalled {
                        let _ = back.send(&a[..n]).await;
                    }
                }
                r = back.recv(&mut b) => {
                    let Ok(n) = r else { return };
                    // A long-header packet of type Retry is 0b1111_xxxx.
                    let retry = n > 0 && b[0] & 0xF0 == 0xF0;
                    if !retry {
                        stalled = true;
                    }
                    if let Some(c) = client {
                        let _ = front.send_to(&b[..n], c).await;
                    }
                }
            }
        }
    });
    addr
}

/// `count` stalled handshakes towards `server` from strangers (a node of another federation,
/// whose key chains to no root the server knows), spread over `sources`.
async fn stall_handshakes(
    dir: &std::path::Path,
    server: SocketAddr,
    count: usize,
    sources: &[[u8; 4]],
) -> (Vec<tokio::task::JoinHandle<()>>, Arc<QuicEndpoint>) {
    let stranger = root(dir, T0);
    let (endpoint, _) = quic_endpoint(&stranger);
    let endpoint = Arc::new(endpoint);
    let mut attempts = Vec::new();
    for i in 0..count {
        let relay = stalling_relay(server, sources[i % sources.len()]).await;
        let endpoint = endpoint.clone();
        // Each attempt waits for its own timeout; the relays keep the server's side stalled.
        attempts.push(tokio::spawn(async move {
            let _ = endpoint.connect(relay).await;
        }));
    }
    (attempts, endpoint)
}

/// Holds a session open as an enrolled member would: a hello, then silence or re-sent hellos.
async fn hold_session(
    member: &Node,
    server: SocketAddr,
    federation: FederationId,
    resend_every: Option<Duration>,
) -> (QuicEndpoint, tokio::task::JoinHandle<()>) {
    let (endpoint, _) = quic_endpoint(member);
    let mut c = connect(&endpoint, server).await;
    // May fail: a second session of one unit is closed at once.
    let _ = c.send_frame(&open_hello(federation)).await;
    let task = tokio::spawn(async move {
        let (mut tx, mut rx) = c.split();
        // Read what the node sends (so flow control never stops it), never answer.
        let reader = tokio::spawn(async move { while let Ok(Some(_)) = rx.recv_frame().await {} });
        if let Some(every) = resend_every {
            loop {
                tokio::time::sleep(every).await;
                if tx.send_frame(&open_hello(federation)).await.is_err() {
                    break;
                }
            }
        }
        let _ = reader.await;
    });
    (endpoint, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legitimate_peer_syncs_while_strangers_stall_handshakes_and_members_hold_sessions() {
    let tmp = TempDir::new("flood");
    let (data, federation, mut prov, members) = federation(&tmp, 4);
    let server = free_port();
    let _stop = run_service(data, server);

    // Members: two silent after their hello, two re-sending hellos, and one of them twice.
    let mut held = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let resend = (i % 2 == 1).then_some(Duration::from_millis(300));
        held.push(hold_session(m, server, federation, resend).await);
    }
    held.push(hold_session(&members[1], server, federation, None).await);

    // Strangers: 64 handshakes that never finish, from four addresses.
    let sources = [
        [127, 0, 0, 2],
        [127, 0, 0, 3],
        [127, 0, 0, 4],
        [127, 0, 0, 5],
    ];
    let (attempts, _strangers) =
        stall_handshakes(&tmp.path().join("stranger"), server, 64, &sources).await;
    // Let every stalled handshake reach the node before the legitimate peer comes.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (endpoint, _) = quic_endpoint(&prov);
    let begun = Instant::now();
    let outcome = tokio::time::timeout(LEGITIMATE_SYNC_BOUND, async {
        let c = endpoint
            .connect(server)
            .await
            .expect("the legitimate peer connects");
        node::sync::sync_over_quic(&mut prov, c, Role::Initiator, None, node::now_ms).await
    })
    .await
    .unwrap_or_else(|_| {
        panic!("the legitimate peer did not finish its sync within {LEGITIMATE_SYNC_BOUND:?}")
    })
    .expect("the legitimate peer's sync succeeds");
    let took = begun.elapsed();
    eprintln!(
        "legitimate sync: {took:?}, received {} entries, sent {}",
        outcome.import.accepted, outcome.stats.entries_sent
    );
    // The national node holds the certificates of every unit it enrolled: the province learns
    // its own, at least.
    assert!(outcome.stats.messages_received > 0);

    // The held sessions were still held (none of them ended by itself so far).
    for (_, task) in &held[..4] {
        assert!(!task.is_finished(), "a held session ended early");
    }
    for a in attempts {
        a.abort();
    }
}

/// The node service with short deadlines, serving on 127.0.0.1.
fn serve_with_deadlines(
    data: &std::path::Path,
    deadlines: sync_protocol::sync::Deadlines,
) -> Arc<node::service::Service> {
    let service = node::service::Service::start(data, SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("service starts")
        .with_deadlines(deadlines);
    let service = Arc::new(service);
    tokio::spawn(service.clone().serve());
    service
}

/// How long until the node closes `c`, and with which of our codes.
async fn closed_by_node(c: &PeerConnection, bound: Duration) -> (Duration, Option<CloseCode>) {
    let begun = Instant::now();
    let e = tokio::time::timeout(bound, c.closed())
        .await
        .expect("the node closed the session");
    let code = match &e {
        FrameError::ClosedByPeer { .. } => e.peer_close_code(),
        other => panic!("closed otherwise: {other}"),
    };
    (begun.elapsed(), code)
}

#[tokio::test]
async fn re_sent_hellos_do_not_keep_a_session_open() {
    let tmp = TempDir::new("flood-hello");
    let (data, federation, _prov, members) = federation(&tmp, 1);
    let deadlines = sync_protocol::sync::Deadlines {
        total_ms: 6_000,
        idle_ms: 2_000,
    };
    let service = serve_with_deadlines(&data, deadlines);
    let addr = service.local_addr().unwrap();
    let (endpoint, _) = quic_endpoint(&members[0]);
    let mut c = connect(&endpoint, addr).await;
    c.send_frame(&open_hello(federation)).await.unwrap();
    let begun = Instant::now();
    let (mut tx, mut rx) = c.split();
    let resend = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if tx.send_frame(&open_hello(federation)).await.is_err() {
                return;
            }
        }
    });
    let e = loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv_frame()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => panic!("the node finished a session it could not finish"),
            Ok(Err(e)) => break e,
            Err(_) => panic!("the session was still open after 10 s"),
        }
    };
    let took = begun.elapsed();
    resend.abort();
    // A hello every 250 ms is not progress: the idle bound (2 s) ends it, long before the end.
    assert_eq!(e.peer_close_code(), Some(CloseCode::SessionExpired), "{e}");
    assert!(
        took >= Duration::from_millis(1_900),
        "closed after {took:?}"
    );
    assert!(took < Duration::from_millis(4_000), "closed after {took:?}");
}

#[tokio::test]
async fn progress_cannot_keep_a_session_open_past_its_end() {
    let tmp = TempDir::new("flood-end");
    let (data, federation, _prov, members) = federation(&tmp, 1);
    let deadlines = sync_protocol::sync::Deadlines {
        total_ms: 3_000,
        idle_ms: 2_000,
    };
    let service = serve_with_deadlines(&data, deadlines);
    let addr = service.local_addr().unwrap();
    let (endpoint, _) = quic_endpoint(&members[0]);
    let c = connect(&endpoint, addr).await;
    let begun = Instant::now();
    let (mut tx, mut rx) = c.split();
    tx.send_frame(&open_hello(federation)).await.unwrap();
    // A reconciliation step every 500 ms: progress, so only the end can stop the session.
    let step = Message::Ranges(vec![Range {
        upper: Bound::Infinity,
        payload: RangePayload::Skip,
    }])
    .encode();
    let steps = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if tx.send_frame(&step).await.is_err() {
                return;
            }
        }
    });
    let e = loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv_frame()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => panic!("the node finished a session it could not finish"),
            Ok(Err(e)) => break e,
            Err(_) => panic!("the session was still open after 10 s"),
        }
    };
    let took = begun.elapsed();
    steps.abort();
    assert_eq!(e.peer_close_code(), Some(CloseCode::SessionExpired), "{e}");
    assert!(
        took >= Duration::from_millis(2_900),
        "closed after {took:?}"
    );
    assert!(took < Duration::from_millis(4_500), "closed after {took:?}");
}

#[tokio::test]
async fn a_second_session_of_one_unit_is_told_the_node_is_busy() {
    let tmp = TempDir::new("flood-busy");
    let (data, federation, mut prov, members) = federation(&tmp, 1);
    let service = serve_with_deadlines(&data, sync_protocol::sync::Deadlines::default());
    let addr = service.local_addr().unwrap();
    let (first, _held) = hold_session(&members[0], addr, federation, None).await;
    // The same unit again: refused at once with Busy, the first session untouched.
    let (endpoint, _) = quic_endpoint(&members[0]);
    let second = connect(&endpoint, addr).await;
    let (took, code) = closed_by_node(&second, Duration::from_secs(5)).await;
    assert_eq!(code, Some(CloseCode::Busy));
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Another unit is served meanwhile.
    let (endpoint, _) = quic_endpoint(&prov);
    let c = connect(&endpoint, addr).await;
    tokio::time::timeout(
        LEGITIMATE_SYNC_BOUND,
        node::sync::sync_over_quic(&mut prov, c, Role::Initiator, None, node::now_ms),
    )
    .await
    .expect("within the bound")
    .expect("the other unit syncs");
    drop(first);
}

/// A QUIC endpoint for `node` bound to `ip` (any port).
fn endpoint_at(node: &Node, ip: [u8; 4]) -> QuicEndpoint {
    let identity = node::quic::QuicIdentity::for_node(node).unwrap();
    let directory = Arc::new(std::sync::RwLock::new(node.directory().clone()));
    QuicEndpoint::bind(
        SocketAddr::from((ip, 0)),
        &identity,
        node::quic::FederationVerifier::for_directory(directory),
    )
    .unwrap()
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_handshakes_and_only_until_their_timeout() {
    use node::quic::{HANDSHAKE_TIMEOUT_MS, MAX_HANDSHAKES_PER_ADDRESS_COUNT};
    let tmp = TempDir::new("flood-per-address");
    let (data, _, prov, _) = federation(&tmp, 0);
    let tld = Node::open(&data).unwrap();
    let (server, _) = quic_endpoint(&tld);
    let addr = server.local_addr().unwrap();
    let attacker = [127, 0, 0, 2];

    // N stalled handshakes from one address: all taken, none refused.
    let (mut attempts, _s1) = stall_handshakes(
        &tmp.path().join("stranger-1"),
        addr,
        MAX_HANDSHAKES_PER_ADDRESS_COUNT,
        &[attacker],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.handshakes_refused(), 0);
    let stalled_at = Instant::now();

    // N + 1: the extra one is ignored (and counted), the address's share is full...
    let (more, _s2) = stall_handshakes(&tmp.path().join("stranger-2"), addr, 1, &[attacker]).await;
    attempts.extend(more);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.handshakes_refused() >= 1);

    // ...while a member from another address connects at once.
    let member = endpoint_at(&prov, [127, 0, 0, 1]);
    let (c, s) = tokio::join!(member.connect(addr), server.accept());
    c.expect("a member from another address connects");
    s.expect("and is accepted");

    // After the handshake timeout the address's slots are free again: a member behind the
    // attacker's address (one NAT) gets in.
    let wait =
        Duration::from_millis(HANDSHAKE_TIMEOUT_MS + 500).saturating_sub(stalled_at.elapsed());
    tokio::time::sleep(wait).await;
    let neighbour = endpoint_at(&prov, attacker);
    let (c, s) = tokio::join!(neighbour.connect(addr), server.accept());
    c.expect("a member behind the attacker's address connects after the timeout");
    s.expect("and is accepted");
    for a in attempts {
        a.abort();
    }
}

/// Panics on the first member's imports, as an import that Automerge would crash on did.
fn panic_for_the_first_member(peer: &sync_protocol::ids::UnitId) {
    if peer.to_string() == "ldld-idle-0" {
        panic!("injected failure while importing from {peer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_importing_closes_that_session_only() {
    let tmp = TempDir::new("flood-panic");
    let (data, federation, mut prov, members) = federation(&tmp, 1);
    let limits = node::sync::SessionLimits {
        before_import: Some(panic_for_the_first_member),
        ..Default::default()
    };
    let service = node::service::Service::start(&data, SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("service starts")
        .with_limits(limits);
    let service = Arc::new(service);
    tokio::spawn(service.clone().serve());
    let addr = service.local_addr().unwrap();

    for round in 0..2 {
        // The member pushes entries (garbage is enough to reach the import).
        let (endpoint, _) = quic_endpoint(&members[0]);
        let mut c = connect(&endpoint, addr).await;
        c.send_frame(&open_hello(federation)).await.unwrap();
        c.send_frame(&Message::Entries(vec![b"not an entry".to_vec()]).encode())
            .await
            .unwrap();
        let (_, code) = closed_by_node(&c, Duration::from_secs(5)).await;
        assert_eq!(code, Some(CloseCode::InternalError), "round {round}");

        // The node goes on: another unit syncs at once, its slot and the store are free.
        let (endpoint, _) = quic_endpoint(&prov);
        let c = connect(&endpoint, addr).await;
        tokio::time::timeout(
            LEGITIMATE_SYNC_BOUND,
            node::sync::sync_over_quic(&mut prov, c, Role::Initiator, None, node::now_ms),
        )
        .await
        .expect("within the bound")
        .expect("the other unit syncs after the failure");
    }
}

/// An entries message of exactly `len` encoded bytes.
fn entries_message_of(len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| Message::Entries(vec![vec![7u8; len - k]]).encode())
        .find(|m| m.len() == len)
        .expect("a size that encodes to len")
}

/// Sends entries messages of `len` bytes every 300 ms to a node whose buffer budget is
/// `budget` bytes; returns how long until the node closed the session, and its code.
async fn push_against_budget(
    name: &str,
    len: usize,
    budget: usize,
) -> (Duration, Option<CloseCode>) {
    let tmp = TempDir::new(name);
    let (data, federation, _prov, members) = federation(&tmp, 1);
    let limits = node::sync::SessionLimits {
        deadlines: sync_protocol::sync::Deadlines {
            total_ms: 4_000,
            idle_ms: 1_500,
        },
        buffered: Arc::new(tokio::sync::Semaphore::new(budget)),
        before_import: None,
    };
    let service = node::service::Service::start(&data, SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("service starts")
        .with_limits(limits);
    let service = Arc::new(service);
    tokio::spawn(service.clone().serve());
    let (endpoint, _) = quic_endpoint(&members[0]);
    let c = connect(&endpoint, service.local_addr().unwrap()).await;
    let begun = Instant::now();
    let (mut tx, mut rx) = c.split();
    tx.send_frame(&open_hello(federation)).await.unwrap();
    let message = entries_message_of(len);
    let pushes = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if tx.send_frame(&message).await.is_err() {
                return;
            }
        }
    });
    let e = loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv_frame()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => panic!("the node finished a session it could not finish"),
            Ok(Err(e)) => break e,
            Err(_) => panic!("the session was still open after 10 s"),
        }
    };
    pushes.abort();
    (begun.elapsed(), e.peer_close_code())
}

#[tokio::test]
async fn a_message_is_read_only_within_the_nodes_buffer_budget() {
    const BUDGET: usize = 1_000;
    // N: every message fits the budget (the one before is imported first), so the pushes are
    // progress and only the session's end (4 s) stops it.
    let (took, code) = push_against_budget("flood-budget-n", BUDGET, BUDGET).await;
    assert_eq!(code, Some(CloseCode::SessionExpired));
    assert!(
        took >= Duration::from_millis(3_900),
        "at N, closed after {took:?}"
    );
    // N + 1: the first message is never read (its bytes cannot be reserved), so nothing moves
    // and the idle bound (1.5 s) ends the session.
    let (took, code) = push_against_budget("flood-budget-n1", BUDGET + 1, BUDGET).await;
    assert_eq!(code, Some(CloseCode::SessionExpired));
    assert!(
        took < Duration::from_millis(2_500),
        "at N + 1, closed after {took:?}"
    );
}
