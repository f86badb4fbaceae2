//! Shared helpers of the integration tests (`it`): temporary directories and a small federation
//! of real on-disk nodes.

use std::path::{Path, PathBuf};

use node::node::{prepare_enrolment, FederationFile};
use node::Node;
use sync_protocol::entry::{Certificate, EntryBody, UnitRole};
use sync_protocol::ids::UnitId;
use sync_protocol::store::EntryStore;
use sync_protocol::text::Text;

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory named after the test.
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("sangkien-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unit id.
pub fn unit(s: &str) -> UnitId {
    UnitId::new(s).expect("valid unit id")
}

/// Text.
pub fn text(s: &str) -> Text {
    Text::new("test", s, 1000).expect("valid text")
}

/// Creates the root node `tld` in `dir/tld`.
pub fn root(dir: &Path, now_ms: u64) -> Node {
    Node::create_root(
        &dir.join("tld"),
        unit("tld"),
        text("Tổng Liên đoàn Lao động Việt Nam"),
        now_ms,
    )
    .expect("root node")
}

/// Enrols `id` under `parent` into `dir/id`, the way `sangkien unit enrol` does.
pub fn enrol(parent: &mut Node, dir: &Path, id: &str, role: UnitRole, now_ms: u64) -> Node {
    let into = dir.join(id);
    let key = prepare_enrolment(&into).expect("enrolment dir");
    let cert = Certificate {
        unit: unit(id),
        name: text(id),
        role,
        parent: parent.unit().clone(),
        key,
        replaces: None,
    };
    let entry = parent
        .write(EntryBody::Certificate(cert), now_ms)
        .expect("certificate");
    let (ff, genesis): (FederationFile, _) = parent.federation_file().expect("federation file");
    let mut trust = parent.store().trust_entries().expect("trust");
    trust.push(entry);
    Node::create_enrolled(&into, &ff, genesis, unit(id), trust, now_ms).expect("enrolled node")
}

/// A QUIC endpoint on 127.0.0.1 (any free port) for `node`, with its key from the node's key
/// file, trusting a shared copy of the node's trust directory; the copy is returned so a test
/// can update it (a revocation arriving). Call inside a tokio runtime.
pub fn quic_endpoint(
    node: &Node,
) -> (
    node::quic::QuicEndpoint,
    std::sync::Arc<std::sync::RwLock<sync_protocol::directory::Directory>>,
) {
    let identity = node::quic::QuicIdentity::for_node(node).expect("TLS identity");
    let directory = std::sync::Arc::new(std::sync::RwLock::new(node.directory().clone()));
    let endpoint = node::quic::QuicEndpoint::bind(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        &identity,
        node::quic::FederationVerifier::for_directory(directory.clone()),
    )
    .expect("QUIC endpoint");
    (endpoint, directory)
}

/// Syncs `a` (initiator, from `cursor`) with `b` over real QUIC on 127.0.0.1, each side
/// checking the other's unit, and returns both sides' outcomes. Call inside a tokio runtime.
pub async fn sync_quic(
    a: &mut Node,
    b: &mut Node,
    cursor: Option<u64>,
) -> (node::sync::SideOutcome, node::sync::SideOutcome) {
    let (ea, _) = quic_endpoint(a);
    let (eb, _) = quic_endpoint(b);
    let addr = eb.local_addr().expect("address");
    let (ca, cb) = tokio::join!(ea.connect(addr), eb.accept());
    let (ca, cb) = (ca.expect("connect"), cb.expect("accept"));
    assert_eq!(ca.peer(), b.unit());
    assert_eq!(cb.peer(), a.unit());
    let run = async {
        tokio::join!(
            node::sync::sync_over_quic(
                a,
                ca,
                sync_protocol::sync::Role::Initiator,
                cursor,
                node::now_ms
            ),
            node::sync::sync_over_quic(
                b,
                cb,
                sync_protocol::sync::Role::Responder,
                None,
                node::now_ms
            ),
        )
    };
    let (ra, rb) = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the session ends by itself");
    ea.close();
    eb.close();
    (ra.expect("initiator"), rb.expect("responder"))
}

/// A decision by "A", "Chủ tịch", with no reason.
pub fn decide(
    node: &mut Node,
    r: sync_protocol::ids::RecordId,
    kind: sync_protocol::entry::DecisionKind,
    t: u64,
) {
    node::records::decide(node, r, kind, text("A"), text("Chủ tịch"), text(""), t)
        .expect("decision");
}

/// The list status code of a listed initiative ([`node::report_index::STATUS_CODES`]).
pub fn status_code(l: &node::search::Listed) -> &'static str {
    match (&l.status, l.conflict) {
        (_, true) => "conflict",
        (None, _) => "registered",
        (Some((k, _, _)), _) => k.code(),
    }
}

/// The federation the index tests share: the national root `tld`, the province
/// `ldld-phu-yen`, its districts `ldld-tuy-hoa` (grassroots `cdcs-a`, `cdcs-b`) and
/// `ldld-dong-hoa` (`cdcs-c`), enrolled at `t0 + 1..=6`, and `programme` launched at the root
/// at `t0 + 7` and synced down to every node over real QUIC.
pub struct PhuYen {
    /// The national root.
    pub tld: Node,
    /// The province.
    pub prov: Node,
    /// District Tuy Hòa.
    pub da: Node,
    /// District Đông Hòa.
    pub db: Node,
    /// Grassroots `cdcs-a` (Tuy Hòa).
    pub a: Node,
    /// Grassroots `cdcs-b` (Tuy Hòa).
    pub b: Node,
    /// Grassroots `cdcs-c` (Đông Hòa).
    pub c: Node,
    /// The programme.
    pub prog: sync_protocol::ids::RecordId,
}

/// Builds [`PhuYen`] in `dir`. Call inside a tokio runtime.
pub async fn phu_yen(dir: &Path, t0: u64, programme: sync_protocol::record::Programme) -> PhuYen {
    let mut tld = root(dir, t0);
    let mut prov = enrol(
        &mut tld,
        dir,
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        t0 + 1,
    );
    let mut da = enrol(
        &mut prov,
        dir,
        "ldld-tuy-hoa",
        UnitRole::DirectSuperior,
        t0 + 2,
    );
    let mut db = enrol(
        &mut prov,
        dir,
        "ldld-dong-hoa",
        UnitRole::DirectSuperior,
        t0 + 3,
    );
    let mut a = enrol(&mut da, dir, "cdcs-a", UnitRole::Grassroots, t0 + 4);
    let mut b = enrol(&mut da, dir, "cdcs-b", UnitRole::Grassroots, t0 + 5);
    let mut c = enrol(&mut db, dir, "cdcs-c", UnitRole::Grassroots, t0 + 6);
    let prog = node::records::create(
        &mut tld,
        &sync_protocol::record::RecordContent::Programme(programme),
        t0 + 7,
    )
    .expect("programme");
    sync_quic(&mut prov, &mut tld, None).await;
    sync_quic(&mut da, &mut prov, None).await;
    sync_quic(&mut db, &mut prov, None).await;
    for g in [&mut a, &mut b] {
        sync_quic(g, &mut da, None).await;
    }
    sync_quic(&mut c, &mut db, None).await;
    PhuYen {
        tld,
        prov,
        da,
        db,
        a,
        b,
        c,
        prog,
    }
}
