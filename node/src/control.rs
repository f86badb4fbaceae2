//! The local control channel of a running node: while `sangkien node run` holds the sled
//! database (sled lets one process open it), other commands on the same machine ask the
//! service, over a Unix domain socket in the data directory, to do what needs the store: a
//! consistent backup, a read-only check, the quarantine listing.
//!
//! # Where and who
//!
//! `DIR/control/node.sock`: the directory is created with mode 0700 (and set to it if it
//! existed), the socket set to 0600; only the service's user (and root) can connect, and so
//! nothing else is authenticated. The service binds it only after it holds the database's
//! lock, so a socket found there then is stale (a killed service's) and is removed. It is
//! removed again on a clean stop (only if it is still the one this service bound).
//!
//! # Protocol (version 1)
//!
//! One request per connection, then one reply, then the connection closes. Each is a frame:
//! `u32` big-endian length, then that many bytes of JSON. The length is checked against
//! [`MAX_CONTROL_REQUEST_BYTES`] (request) or [`MAX_CONTROL_REPLY_BYTES`] (reply) before
//! anything is allocated, and must not be 0. A request must arrive whole within
//! [`CONTROL_REQUEST_TIMEOUT_MS`]; at most [`MAX_CONTROL_CONNECTIONS`] are served at once (the
//! others wait in the listen queue).
//!
//! ```text
//! request = {"version": 1, "request": {"op": "status"}}
//!         | {"version": 1, "request": {"op": "backup", "file": "/abs/path", "include_key": false}}
//!         | {"version": 1, "request": {"op": "check"}}
//!         | {"version": 1, "request": {"op": "quarantine", "limit": 100}}
//!         | {"version": 1, "request": {"op": "run", "args": ["initiative", "list"],
//!                                      "data": "/abs/dir", "lang": "vi"}}
//! reply   = {"status": {...}} | {"backup": BackupSummary} | {"check": CheckReport}
//!         | {"quarantine": QuarantineListing}
//!         | {"run": {"stdout": "...", "stderr": "...", "code": 0}}
//!         | {"error": {"kind": "bad-request" | "failed", "message": "..."}}
//! ```
//!
//! `run` carries out a whole `sangkien` command in the service, against the node it holds open
//! (see [`CommandRunner`]): the client parsed and checked the arguments, made every path in them
//! absolute, and prints the reply's output and exits with its code, so a command gives the same
//! output and exit code whether or not a service serves the directory.
//!
//! A malformed, oversized, truncated or slow request is answered with a `bad-request` error (when
//! the connection still takes one) and closes only that connection; the service goes on.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backup::BackupSummary;
use crate::check::CheckReport;
use crate::quarantine::QuarantineListing;

/// The control directory inside a data directory (mode 0700).
pub const CONTROL_DIR: &str = "control";
/// The socket inside [`CONTROL_DIR`] (mode 0600).
pub const CONTROL_SOCKET: &str = "node.sock";
/// The protocol version a request carries.
pub const CONTROL_PROTOCOL_VERSION: u32 = 1;
/// Largest request, in bytes: a backup path (at most 4,096 bytes on Linux) and a few fields,
/// or a command's arguments (an initiative's longest texts are a few thousand characters).
pub const MAX_CONTROL_REQUEST_BYTES: u32 = 64 * 1024;
/// Largest reply, in bytes: a quarantine listing of
/// [`crate::quarantine::MAX_QUARANTINE_LISTED`] held and expired entries (≈ 600 bytes each as
/// JSON) fits, and a command's printed output up to that size.
pub const MAX_CONTROL_REPLY_BYTES: u32 = 16 * 1024 * 1024;
/// Most control connections served at once.
pub const MAX_CONTROL_CONNECTIONS: usize = 4;
/// How long the service waits for a whole request, and for a reply to be taken.
pub const CONTROL_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// How long a client waits for the reply: a check of a national node takes minutes.
pub const CONTROL_REPLY_TIMEOUT_MS: u64 = 2 * 60 * 60 * 1000;

const _: () = assert!(MAX_CONTROL_REQUEST_BYTES < MAX_CONTROL_REPLY_BYTES);

/// The socket of the node in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(CONTROL_DIR).join(CONTROL_SOCKET)
}

/// A request with its protocol version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFrame {
    /// [`CONTROL_PROTOCOL_VERSION`].
    pub version: u32,
    /// What is asked.
    pub request: Request,
}

/// What a command asks of the running service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Which node and process answer.
    Status,
    /// Write a consistent backup to `file` (an absolute path, written by the service's user).
    Backup {
        /// Where.
        file: PathBuf,
        /// With the unit's private key.
        include_key: bool,
    },
    /// A read-only `node check`.
    Check,
    /// The quarantine listing, at most `limit` entries of each list.
    Quarantine {
        /// How many held and expired entries to list.
        limit: usize,
    },
    /// Carry out a whole command (its arguments after the program name, every path in them
    /// absolute) against the service's node.
    Run(RunRequest),
}

/// A command for the service to carry out ([`Request::Run`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The arguments after the program name, paths made absolute by the client.
    pub args: Vec<String>,
    /// The data directory (absolute) the client named.
    pub data: PathBuf,
    /// The language the client chose ("vi" or "en").
    pub lang: String,
}

/// What a command carried out by the service printed, and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunOutput {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// Its exit code.
    pub code: u8,
    /// Whether it may have written to the store (then the service syncs upward at once).
    #[serde(skip)]
    pub wrote: bool,
    /// How long the service took to carry it out, in microseconds (parsing, the command and
    /// its output; not the socket): what `sangkien bench report` reports as the node's time.
    #[serde(default)]
    pub service_us: u64,
}

/// How the service carries out a [`Request::Run`]: the `sangkien` binary registers its own
/// command dispatcher when it starts `node run`, so `node` does not depend on the CLI. It is
/// called on a blocking thread with the service's node; it locks the node (the lock sync
/// sessions take for their offer and each import) only while the command uses the store.
pub type CommandRunner = std::sync::Arc<
    dyn Fn(std::sync::Arc<tokio::sync::Mutex<crate::node::Node>>, RunRequest) -> RunOutput
        + Send
        + Sync,
>;

impl Request {
    /// Its name, for logs.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Backup { .. } => "backup",
            Request::Check => "check",
            Request::Quarantine { .. } => "quarantine",
            Request::Run(_) => "run",
        }
    }
}

/// Which service answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// Its process id.
    pub pid: u32,
    /// Its unit.
    pub unit: String,
    /// Its QUIC address.
    pub listen: Option<String>,
    /// Its web interface's address, when it serves one.
    #[serde(default)]
    pub web: Option<String>,
    /// The sangkien version.
    pub version: String,
}

/// Why the service refused or failed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The request was malformed, oversized, of another version, or asked for something not
    /// allowed (a relative backup path).
    BadRequest,
    /// The operation ran and failed (a backup file that cannot be written).
    Failed,
}

/// The service's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reply {
    /// To [`Request::Status`].
    Status(ServiceStatus),
    /// To [`Request::Backup`].
    Backup(BackupSummary),
    /// To [`Request::Check`].
    Check(CheckReport),
    /// To [`Request::Quarantine`].
    Quarantine(QuarantineListing),
    /// To [`Request::Run`].
    Run(RunOutput),
    /// A refusal or a failure.
    Error {
        /// Whose fault.
        kind: FailureKind,
        /// What went wrong, in English.
        message: String,
    },
}

impl Reply {
    /// A `bad-request` error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Reply::Error {
            kind: FailureKind::BadRequest,
            message: message.into(),
        }
    }
    /// A `failed` error.
    pub fn failed(message: impl Into<String>) -> Self {
        Reply::Error {
            kind: FailureKind::Failed,
            message: message.into(),
        }
    }
}

/// What went wrong asking the service.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing answers on the socket (none there, or a stale one).
    #[error("no node service answers on {socket}: {reason}")]
    NoService {
        /// the socket
        socket: PathBuf,
        /// the cause
        reason: std::io::Error,
    },
    /// The exchange failed half-way.
    #[error("{socket}: {reason}")]
    Io {
        /// the socket
        socket: PathBuf,
        /// the cause
        reason: std::io::Error,
    },
    /// The reply was not a reply.
    #[error("{socket}: the service's reply is unusable: {reason}")]
    BadReply {
        /// the socket
        socket: PathBuf,
        /// what is wrong
        reason: String,
    },
    /// The service refused the request or the operation failed there.
    #[error("the running node answered: {message}")]
    Answered {
        /// whose fault
        kind: FailureKind,
        /// what it said
        message: String,
    },
}

/// Asks the service running on the node in `dir`; blocks until it answers (at most
/// [`CONTROL_REPLY_TIMEOUT_MS`]). An error reply comes back as [`ControlError::Answered`].
pub fn request(dir: &Path, request: Request) -> Result<Reply, ControlError> {
    let socket = socket_path(dir);
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).map_err(|reason| {
        ControlError::NoService {
            socket: socket.clone(),
            reason,
        }
    })?;
    let io = |reason| ControlError::Io {
        socket: socket.clone(),
        reason,
    };
    let bad = |reason: String| ControlError::BadReply {
        socket: socket.clone(),
        reason,
    };
    stream
        .set_write_timeout(Some(Duration::from_millis(CONTROL_REQUEST_TIMEOUT_MS)))
        .map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_millis(CONTROL_REPLY_TIMEOUT_MS)))
        .map_err(io)?;
    let body = serde_json::to_vec(&RequestFrame {
        version: CONTROL_PROTOCOL_VERSION,
        request,
    })
    .map_err(|e| bad(e.to_string()))?;
    if body.len() > MAX_CONTROL_REQUEST_BYTES as usize {
        return Err(bad(format!(
            "the request is {} bytes, over the limit of {MAX_CONTROL_REQUEST_BYTES}",
            body.len()
        )));
    }
    stream
        .write_all(&(body.len() as u32).to_be_bytes())
        .and_then(|()| stream.write_all(&body))
        .map_err(io)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(io)?;
    let len = u32::from_be_bytes(len);
    if len == 0 || len > MAX_CONTROL_REPLY_BYTES {
        return Err(bad(format!(
            "a reply of {len} bytes (the limit is {MAX_CONTROL_REPLY_BYTES})"
        )));
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body).map_err(io)?;
    match serde_json::from_slice::<Reply>(&body).map_err(|e| bad(e.to_string()))? {
        Reply::Error { kind, message } => Err(ControlError::Answered { kind, message }),
        r => Ok(r),
    }
}

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("control socket {path}: {reason}")]
pub struct BindError {
    /// the socket or its directory
    pub path: PathBuf,
    /// what went wrong
    pub reason: String,
}

/// The service's end: a bound socket, removed when dropped (if still ours).
pub struct ControlSocket {
    path: PathBuf,
    listener: tokio::net::UnixListener,
    /// (device, inode) of the socket this service bound.
    identity: (u64, u64),
}

impl ControlSocket {
    /// Binds `DIR/control/node.sock` (call inside a tokio runtime, while holding the node's
    /// database, so that a socket already there is a stale one).
    pub fn bind(dir: &Path) -> Result<Self, BindError> {
        let cdir = dir.join(CONTROL_DIR);
        let path = cdir.join(CONTROL_SOCKET);
        let fail = |p: &Path, reason: String| BindError {
            path: p.to_owned(),
            reason,
        };
        match std::fs::symlink_metadata(&cdir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(fail(&cdir, "exists and is not a directory".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&cdir)
                .map_err(|e| fail(&cdir, e.to_string()))?,
            Err(e) => return Err(fail(&cdir, e.to_string())),
        }
        std::fs::set_permissions(&cdir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail(&cdir, e.to_string()))?;
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {
                tracing::info!(socket = %path.display(), "removing a stale control socket");
                std::fs::remove_file(&path).map_err(|e| fail(&path, e.to_string()))?;
            }
            Ok(_) => return Err(fail(&path, "exists and is not a socket".into())),
            Err(_) => {}
        }
        let listener = tokio::net::UnixListener::bind(&path).map_err(|e| {
            fail(
                &path,
                format!("{e} (a socket path may be at most 107 bytes long)"),
            )
        })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(&path, e.to_string()))?;
        let m = std::fs::symlink_metadata(&path).map_err(|e| fail(&path, e.to_string()))?;
        Ok(Self {
            path,
            listener,
            identity: (m.dev(), m.ino()),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next connection.
    pub async fn accept(&self) -> std::io::Result<tokio::net::UnixStream> {
        self.listener.accept().await.map(|(s, _)| s)
    }

    /// Removes the socket file, if it is still the one this service bound.
    pub fn remove(&self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.identity {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Reads one request from a connection: the length, checked before allocating, then the JSON,
/// all within [`CONTROL_REQUEST_TIMEOUT_MS`]. An error is the reply to send.
pub async fn read_request(stream: &mut tokio::net::UnixStream) -> Result<Request, Reply> {
    let timeout = Duration::from_millis(CONTROL_REQUEST_TIMEOUT_MS);
    let body = tokio::time::timeout(timeout, async {
        let mut len = [0u8; 4];
        stream
            .read_exact(&mut len)
            .await
            .map_err(|e| Reply::bad_request(format!("no request length: {e}")))?;
        let len = u32::from_be_bytes(len);
        if len == 0 || len > MAX_CONTROL_REQUEST_BYTES {
            return Err(Reply::bad_request(format!(
                "a request of {len} bytes; the limit is {MAX_CONTROL_REQUEST_BYTES}"
            )));
        }
        let mut body = vec![0u8; len as usize];
        stream
            .read_exact(&mut body)
            .await
            .map_err(|e| Reply::bad_request(format!("the request ends early: {e}")))?;
        Ok(body)
    })
    .await
    .map_err(|_| {
        Reply::bad_request(format!(
            "no whole request within {CONTROL_REQUEST_TIMEOUT_MS} ms"
        ))
    })??;
    let frame: RequestFrame = serde_json::from_slice(&body)
        .map_err(|e| Reply::bad_request(format!("not a request: {e}")))?;
    if frame.version != CONTROL_PROTOCOL_VERSION {
        return Err(Reply::bad_request(format!(
            "protocol version {} is not supported; this service speaks version {CONTROL_PROTOCOL_VERSION}",
            frame.version
        )));
    }
    Ok(frame.request)
}

/// Writes the reply (an error instead, if it would exceed [`MAX_CONTROL_REPLY_BYTES`]) and
/// closes the connection; gives up after [`CONTROL_REQUEST_TIMEOUT_MS`].
pub async fn write_reply(stream: &mut tokio::net::UnixStream, reply: &Reply) {
    let body = match serde_json::to_vec(reply) {
        Ok(b) if b.len() <= MAX_CONTROL_REPLY_BYTES as usize => b,
        Ok(b) => serde_json::to_vec(&Reply::failed(format!(
            "the reply is {} bytes, over the limit of {MAX_CONTROL_REPLY_BYTES}; ask for less",
            b.len()
        )))
        .unwrap_or_default(),
        Err(e) => serde_json::to_vec(&Reply::failed(e.to_string())).unwrap_or_default(),
    };
    let timeout = Duration::from_millis(CONTROL_REQUEST_TIMEOUT_MS);
    let sent = tokio::time::timeout(timeout, async {
        stream.write_all(&(body.len() as u32).to_be_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::debug!("a control client left before taking its reply");
    }
}

/// Processes that hold `DIR/db/db` open (sled's lock is on that file), by process id and
/// command line, as far as `/proc` shows them (the caller's own processes, on Linux).
pub fn lock_holders(dir: &Path) -> Vec<(u32, String)> {
    let target = match std::fs::canonicalize(dir.join(crate::node::DB_DIR).join("db")) {
        Ok(p) => p,
        Err(_) => return Vec::new(),
    };
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target));
        if holds {
            let cmd = std::fs::read(p.path().join("cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            out.push((pid, cmd));
        }
    }
    out
}
