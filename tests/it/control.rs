//! The control socket of a running service (`node::control`), in process: it answers, a bad
//! request (oversized, empty, truncated, not JSON, another version, an unknown operation, a
//! relative path, too long a listing) gets a clear error and takes nothing down, and a clean
//! stop removes the socket; a stale socket does not block the next start; a database held
//! elsewhere is reported as locked.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use node::control::{self, ControlError, FailureKind, Reply, Request};
use node::service::ServiceConfig;
use tests::{root, TempDir};

const T0: u64 = 1_764_000_000_000;
/// Polls before giving up on the service starting (a bound, not a synchronisation).
const MAX_POLLS: u32 = 600;

fn config(data: &Path) -> ServiceConfig {
    ServiceConfig {
        data: data.to_owned(),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        interval_s: 300,
        log_level: "info".into(),
        cache_mb: None,
        http_listen: None,
        http_off: true,
        web_secure_cookies: false,
        web_session_idle_s: None,
        peers: Vec::new(),
    }
}

/// Runs the service on `data` in its own runtime thread until the returned sender is used.
fn start(
    data: &Path,
) -> (
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<bool>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cfg = config(data);
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(node::service::run(cfg, async {
            let _ = stopped.await;
        }))
        .is_ok()
    });
    for _ in 0..MAX_POLLS {
        if matches!(
            control::request(data, Request::Status),
            Ok(Reply::Status(_))
        ) {
            return (stop, handle);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the service did not answer on its control socket");
}

/// Sends raw bytes as a request and reads the reply.
fn raw(data: &Path, bytes: &[u8]) -> Reply {
    let mut s = UnixStream::connect(control::socket_path(data)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(bytes).expect("write");
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    assert!(out.len() >= 4, "a framed reply");
    let n = u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
    assert_eq!(out.len(), 4 + n, "one frame, then the connection closes");
    serde_json::from_slice(&out[4..]).expect("a reply")
}

fn framed(json: &str) -> Vec<u8> {
    let mut v = (json.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v
}

fn bad_request(r: Reply) -> String {
    match r {
        Reply::Error {
            kind: FailureKind::BadRequest,
            message,
        } => message,
        other => panic!("expected a bad-request error, got {other:?}"),
    }
}

#[test]
fn the_control_socket_answers_refuses_bad_requests_and_goes_away_on_stop() {
    let tmp = TempDir::new("control");
    let data = tmp.path().join("tld");
    drop(root(tmp.path(), T0));
    let (stop, handle) = start(&data);
    let socket = control::socket_path(&data);
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().expect("dir")), 0o700);

    // Bad requests: each answered, none fatal.
    let m = bad_request(raw(&data, &u32::MAX.to_be_bytes()));
    assert!(m.contains("limit"), "{m}");
    let m = bad_request(raw(&data, &0u32.to_be_bytes()));
    assert!(m.contains("0 bytes"), "{m}");
    let m = bad_request(raw(&data, &[0, 0, 0, 100, b'{']));
    assert!(m.contains("ends early"), "{m}");
    let m = bad_request(raw(&data, &framed("not json")));
    assert!(m.contains("not a request"), "{m}");
    let m = bad_request(raw(
        &data,
        &framed(r#"{"version": 9, "request": {"op": "status"}}"#),
    ));
    assert!(m.contains("version 9"), "{m}");
    let m = bad_request(raw(
        &data,
        &framed(r#"{"version": 1, "request": {"op": "delete-everything"}}"#),
    ));
    assert!(m.contains("not a request"), "{m}");
    let m = bad_request(raw(
        &data,
        &framed(
            r#"{"version": 1, "request": {"op": "backup", "file": "x.backup", "include_key": false}}"#,
        ),
    ));
    assert!(m.contains("not absolute"), "{m}");
    match control::request(&data, Request::Quarantine { limit: 1 << 40 }) {
        Err(ControlError::Answered {
            kind: FailureKind::BadRequest,
            message,
        }) => assert!(message.contains("limit"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Issue 13: `run` — a service started without a command runner says so (the CLI then
    // opens the store itself); a run request with an unknown field is not a request.
    match control::request(
        &data,
        Request::Run(control::RunRequest {
            args: vec!["verify".into()],
            data: data.clone(),
            lang: "en".into(),
        }),
    ) {
        Err(ControlError::Answered {
            kind: FailureKind::BadRequest,
            message,
        }) => assert!(message.contains("does not carry out commands"), "{message}"),
        other => panic!("{other:?}"),
    }
    let m = bad_request(raw(
        &data,
        &framed(
            r#"{"version": 1, "request": {"op": "run", "args": [], "data": "/x", "lang": "en", "cwd": "/"}}"#,
        ),
    ));
    assert!(m.contains("not a request"), "{m}");
    // A client that connects and leaves.
    drop(UnixStream::connect(&socket).expect("connect"));

    // Still serving: status, a backup, a failed backup, a check, a listing.
    match control::request(&data, Request::Status) {
        Ok(Reply::Status(s)) => {
            assert_eq!(s.unit, "tld");
            assert_eq!(s.pid, std::process::id());
        }
        other => panic!("{other:?}"),
    }
    let file = tmp.path().join("tld.backup");
    match control::request(
        &data,
        Request::Backup {
            file: file.clone(),
            include_key: false,
        },
    ) {
        Ok(Reply::Backup(s)) => assert_eq!(s.entries, 1),
        other => panic!("{other:?}"),
    }
    assert!(file.exists());
    match control::request(
        &data,
        Request::Backup {
            file: tmp.path().join("no-such-dir").join("x.backup"),
            include_key: false,
        },
    ) {
        Err(ControlError::Answered {
            kind: FailureKind::Failed,
            message,
        }) => assert!(message.contains("no-such-dir"), "{message}"),
        other => panic!("{other:?}"),
    }
    match control::request(&data, Request::Check) {
        Ok(Reply::Check(r)) => assert!(r.is_clean() && r.entries == 1, "{r:?}"),
        other => panic!("{other:?}"),
    }
    match control::request(&data, Request::Quarantine { limit: 10 }) {
        Ok(Reply::Quarantine(q)) => assert_eq!(q.held_count, 0),
        other => panic!("{other:?}"),
    }

    // A clean stop removes the socket.
    stop.send(()).expect("stop");
    assert!(handle.join().expect("service thread"), "stopped cleanly");
    assert!(!socket.exists(), "the socket is removed");
    assert!(matches!(
        control::request(&data, Request::Status),
        Err(ControlError::NoService { .. })
    ));
}

#[test]
fn a_stale_socket_does_not_block_the_next_start() {
    let tmp = TempDir::new("control-stale");
    let data = tmp.path().join("tld");
    drop(root(tmp.path(), T0));
    // What a killed service leaves: a socket nobody listens on.
    let socket = control::socket_path(&data);
    std::fs::create_dir_all(socket.parent().expect("dir")).expect("dir");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());
    assert!(matches!(
        control::request(&data, Request::Status),
        Err(ControlError::NoService { .. })
    ));
    let (stop, handle) = start(&data);
    stop.send(()).expect("stop");
    assert!(handle.join().expect("service thread"));
    assert!(!socket.exists());
}

#[test]
fn a_database_already_open_is_reported_as_locked_not_as_damaged() {
    let tmp = TempDir::new("control-locked");
    let tld = root(tmp.path(), T0);
    let e = match node::Node::open(tld.dir()) {
        Err(e) => e,
        Ok(_) => panic!("sled let a second opener in"),
    };
    assert!(e.is_locked(), "{e}");
    assert!(e.to_string().contains("in use by another process"), "{e}");
    drop(tld);
    assert!(node::Node::open(&tmp.path().join("tld")).is_ok());
}
