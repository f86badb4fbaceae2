//! `sangkien bench serve`: what a real national node service costs when provinces sync with it.
//!
//! Starts `sangkien node run` (a separate process, the real service) on a national node made by
//! `sangkien bench national --dir DIR` (`--data DIR/tld`), enrols a province node beside it,
//! and drives real QUIC sync sessions from the province through the same client path as
//! `sangkien sync` (`Service::sync_with`, with its stored cursor). The service's CPU is read
//! from `/proc/<pid>/stat` before and after (all its threads, those that ended included).
//!
//! It measures, in this order:
//! 1. the province's first sync: what it receives (only its scope: its subtree's records and
//!    certificates), its rate, and the store's own ingest rate of the same entries;
//! 2. `--sessions` sessions with nothing new: the service's CPU per session, and its resident
//!    memory as they go (does it grow?); the load of 63 provinces every 300 s;
//! 3. `--rounds` sessions that each bring `--new` new initiatives from the province: the
//!    service's CPU per session, beside the CPU of ingesting them.
//!
//! How long it runs: the service's open (plus, once, building the sync index if the node was
//! made before it: one pass over the entries), the first sync (the province's share of the
//! initiatives and its subtree's certificates), then a few ms of wall time per session on
//! loopback. On the 200,000-initiative national node: 31 s in all with the defaults (1,000
//! no-op sessions, 10 sessions of 100 new initiatives), the machine loaded. At 1,000,000 the
//! first sync carries about five times as much; the sessions cost about the same.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use node::node::{FederationFile, KEY_FILE};
use node::service::Service;
use node::Node;
use sync_protocol::entry::{Entry, EntryBody};
use sync_protocol::ids::UnitId;
use sync_protocol::store::{EntryLookup, EntryStore};

use super::bench::{cpu_ticks, fail, Scratch};
use super::synth;
use crate::Failure;

/// Seed of the tree `bench national` makes (`synth::create(.., 1, ..)`).
const NATIONAL_SEED: u64 = 1;
/// How long to wait for the service to open its node and listen.
const READY_TIMEOUT: Duration = Duration::from_secs(3 * 3600);
/// Entries per batch when measuring the store's own ingest rate.
const INGEST_BATCH: usize = 3_000;
/// First-sync sessions at most (each goes on until its deadline or the end).
const MAX_FIRST_SESSIONS: usize = 50;

/// What `bench serve` is asked.
pub struct ServeArgs {
    /// The national node's data directory.
    pub data: PathBuf,
    /// No-op sessions.
    pub sessions: u32,
    /// Sessions bringing new initiatives.
    pub rounds: u32,
    /// New initiatives per such session.
    pub new: u64,
    /// The tree's shape, as given to `bench national`.
    pub shape: (usize, usize, usize),
    /// Which province syncs (its index, `p<N>`).
    pub province: usize,
    /// The service's page cache, MiB.
    pub cache_mb: u64,
    /// Work directory for the province node (default: temp, removed).
    pub dir: Option<PathBuf>,
}

pub(super) fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| k * 1024)
        .unwrap_or(0)
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

/// The service process, stopped (SIGTERM, then SIGKILL) when dropped.
pub(super) struct ServiceProcess {
    pub(super) child: Child,
}

/// Times a service is started again when it stopped at once (see [`ServiceProcess::start`]).
const START_ATTEMPTS: usize = 30;

impl ServiceProcess {
    /// Starts `sangkien node run --config CONFIG` (its log in `log`) and waits until `ready`
    /// says it serves. sled lets go of its lock only when its last thread has finished with the
    /// files, which can take a moment after this process dropped the node on a large database:
    /// a service that found the store still locked is started again.
    pub(super) fn start(
        config: &Path,
        log: &Path,
        ready: impl Fn() -> bool,
    ) -> Result<Self, Failure> {
        let t = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let child = Command::new(std::env::current_exe().map_err(fail)?)
                .arg("node")
                .arg("run")
                .arg("--config")
                .arg(config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).map_err(fail)?)
                .spawn()
                .map_err(fail)?;
            let mut service = ServiceProcess { child };
            let up = loop {
                if ready() {
                    break true;
                }
                if let Ok(Some(status)) = service.child.try_wait() {
                    if attempts < START_ATTEMPTS {
                        break false;
                    }
                    return Err(fail(format!(
                        "the service stopped ({status}); see {}",
                        log.display()
                    )));
                }
                if t.elapsed() > READY_TIMEOUT {
                    return Err(fail("the service did not answer in time"));
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            if up {
                return Ok(service);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }
    fn cpu_ticks(&self) -> u64 {
        cpu_ticks(&format!("/proc/{}/stat", self.pid()))
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn free_port() -> Result<u16, Failure> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").map_err(fail)?;
    Ok(s.local_addr().map_err(fail)?.port())
}

/// Initiative numbers whose grassroots unit lies in province `p` (the synthetic tree gives
/// initiative `n` to grassroots unit `n % grassroots`, provinces in order).
fn province_numbers(
    shape: (usize, usize, usize),
    p: usize,
    from_block: u64,
    count: u64,
) -> Vec<u64> {
    let per_province = (shape.1 * shape.2) as u64;
    let all = (shape.0 * shape.1 * shape.2) as u64;
    (0..count)
        .map(|i| {
            let block = from_block + i / per_province;
            block * all + p as u64 * per_province + i % per_province
        })
        .collect()
}

/// Runs `bench serve`.
pub fn serve(a: ServeArgs) -> Result<u8, Failure> {
    let started = Instant::now();
    if !a.data.join("node.json").exists() {
        return Err(Failure::input(format!(
            "{}: not a node's data directory (make one with `sangkien bench national --dir DIR`, then pass --data DIR/tld)",
            a.data.display()
        )));
    }
    let national_dir = std::fs::canonicalize(&a.data).map_err(fail)?;
    let scratch = Scratch::new(a.dir.clone(), "serve")?;
    crate::outln!("load before: {}", loadavg());

    // The national node, briefly: the province's certificate, the federation, the tree.
    let t = Instant::now();
    let national = Node::open(&national_dir).map_err(fail)?;
    crate::outln!(
        "opened the national node in this process in {:.1} s ({} units)",
        t.elapsed().as_secs_f64(),
        national.directory().units().len()
    );
    let synth = synth::attach(&national, NATIONAL_SEED, a.shape);
    let province = UnitId::new(&format!("p{}", a.province)).map_err(fail)?;
    if !national.directory().knows(&province) {
        return Err(Failure::input(format!(
            "{province}: no such province in this node (give --shape as to bench national)"
        )));
    }
    let (ff, genesis): (FederationFile, Entry) = national.federation_file().map_err(fail)?;
    let own_cert: Vec<Entry> = national
        .store()
        .trust_iter()
        .filter_map(|e| e.ok())
        .filter(|e| sync_protocol::scope::trust_subject(e) == Some(&province))
        .collect();
    let now = node::now_ms();
    let offered = national.offer_keys(&province, now).map_err(fail)?.len();
    drop(national);
    // The province node, holding the synthetic key, enrolled with its own certificate only.
    let prov_dir = scratch.path.join("province");
    std::fs::create_dir_all(&prov_dir).map_err(fail)?;
    node::keys::write_new(
        &prov_dir.join(KEY_FILE),
        &synth.signing_key(province.as_str()),
    )
    .map_err(fail)?;
    Node::create_enrolled(
        &prov_dir,
        &ff,
        genesis.clone(),
        province.clone(),
        own_cert.clone(),
        now,
    )
    .map_err(fail)?;

    // The real service, in its own process.
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let config = scratch.path.join("national.toml");
    std::fs::write(
        &config,
        format!(
            "data = {:?}\nlisten = \"{addr}\"\nlog_level = \"warn\"\ncache_mb = {}\n",
            national_dir.display().to_string(),
            a.cache_mb
        ),
    )
    .map_err(fail)?;
    let t = Instant::now();
    let service = ServiceProcess::start(&config, &scratch.path.join("service.log"), || {
        node::control::request(&national_dir, node::control::Request::Status).is_ok()
    })?;
    crate::outln!(
        "service pid {} serving {} on {addr}: ready in {:.1} s, RSS {:.0} MiB, CPU so far {:.1} s",
        service.pid(),
        national_dir.display(),
        t.elapsed().as_secs_f64(),
        mib(rss_of(service.pid())),
        service.cpu_ticks() as f64 / 100.0
    );
    let idle0 = service.cpu_ticks();
    std::thread::sleep(Duration::from_secs(3));
    let idle_ticks = service.cpu_ticks().saturating_sub(idle0);
    crate::outln!(
        "service idle: {:.1} ms CPU per second",
        idle_ticks as f64 * 10.0 / 3.0
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(fail)?;
    let bind: SocketAddr = ([127, 0, 0, 1], 0).into();

    // 1. The first sync.
    let cpu0 = service.cpu_ticks();
    let t = Instant::now();
    let mut received = 0usize;
    let mut sessions = 0usize;
    let mut parked = 0usize;
    rt.block_on(async {
        let client = Service::start(&prov_dir, bind).map_err(fail)?;
        let r = async {
            for _ in 0..MAX_FIRST_SESSIONS {
                sessions += 1;
                let o = sync_once(&client, addr).await?;
                // Entries that waited (a range settled before the one holding their
                // certificate) count when released.
                received += o.import.accepted + o.import.released;
                parked += o.import.quarantined.len();
                if o.import.accepted + o.import.released == 0 {
                    break;
                }
            }
            Ok::<(), Failure>(())
        }
        .await;
        client.close();
        r
    })?;
    let first_s = t.elapsed().as_secs_f64();
    let first_cpu = service.cpu_ticks().saturating_sub(cpu0);
    // What it holds now: only its scope?
    let prov = Node::open(&prov_dir).map_err(fail)?;
    let (mut records, mut trust, mut outside) = (0usize, 0usize, 0usize);
    let mut trusts: Vec<Entry> = Vec::new();
    let mut rest: Vec<Entry> = Vec::new();
    for h in prov.store().hashes().map_err(fail)? {
        let Some(e) = prov.store().entry(&h).map_err(fail)? else {
            continue;
        };
        match e.body() {
            EntryBody::Genesis(_) => continue,
            EntryBody::Certificate(_) | EntryBody::Revocation(_) => {
                trust += 1;
                let s = sync_protocol::scope::trust_subject(&e).cloned();
                if !s.is_some_and(|s| prov.directory().is_self_or_ancestor_at(&province, &s, now)) {
                    outside += 1;
                }
            }
            EntryBody::RecordChange(c) => {
                records += 1;
                if !prov
                    .directory()
                    .is_self_or_ancestor_at(&province, &c.owner, now)
                {
                    outside += 1;
                }
            }
            _ => records += 1,
        }
        if own_cert.iter().any(|c| c.hash() == h) {
            continue;
        }
        if sync_protocol::scope::is_trust(&e) {
            trusts.push(e);
        } else {
            rest.push(e);
        }
    }
    // Parents first, as a sync sends them.
    sync_protocol::scope::sort_parents_first(prov.directory(), &mut trusts);
    drop(prov);
    crate::outln!(
        "first sync of {province}: {received} entries received in {sessions} session(s) ({parked} of them parked in quarantine first), {first_s:.1} s ({:.0} entries/s); the service spent {:.1} s CPU; the national node offers {offered} keys to {province}",
        received as f64 / first_s.max(1e-9),
        first_cpu as f64 / 100.0
    );
    crate::outln!(
        "  it holds {records} record entries and {trust} certificates/revocations, {outside} of them outside its subtree"
    );
    // The store's own ingest rate of the same entries, in the same kind of batches.
    let base_dir = scratch.path.join("baseline");
    std::fs::create_dir_all(&base_dir).map_err(fail)?;
    node::keys::write_new(
        &base_dir.join(KEY_FILE),
        &synth.signing_key(province.as_str()),
    )
    .map_err(fail)?;
    let mut base = Node::create_enrolled(&base_dir, &ff, genesis, province.clone(), own_cert, now)
        .map_err(fail)?;
    let ordered: Vec<Vec<u8>> = trusts
        .iter()
        .chain(rest.iter())
        .map(|e| e.bytes().to_vec())
        .collect();
    drop(trusts);
    drop(rest);
    let t = Instant::now();
    let r = node::ingest::ingest(
        &mut base,
        ordered
            .chunks(INGEST_BATCH)
            .map(|c| c.iter().collect::<Vec<_>>()),
        node::now_ms,
        |_, _| Ok(()),
    )
    .map_err(fail)?;
    let ingest_s = t.elapsed().as_secs_f64();
    drop(base);
    let _ = std::fs::remove_dir_all(&base_dir);
    let first_rate = received as f64 / first_s.max(1e-9);
    let ingest_rate = r.accepted as f64 / ingest_s.max(1e-9);
    crate::outln!(
        "  the same {} entries ingested by a fresh province node: {:.1} s ({ingest_rate:.0} entries/s); first sync at {:.0} % of the ingest rate",
        r.accepted,
        ingest_s,
        100.0 * first_rate / ingest_rate.max(1e-9)
    );

    // 2. No-op sessions.
    let mut rss = vec![(0u32, rss_of(service.pid()))];
    let cpu0 = service.cpu_ticks();
    let t = Instant::now();
    let mut moved = 0u64;
    let mut bytes = 0u64;
    rt.block_on(async {
        let client = Service::start(&prov_dir, bind).map_err(fail)?;
        let r = async {
            for i in 1..=a.sessions {
                let o = sync_once(&client, addr).await?;
                moved += o.import.accepted as u64 + o.stats.entries_sent;
                bytes += o.stats.bytes_sent + o.stats.bytes_received;
                if i == 1 || i % (a.sessions / 10).max(1) == 0 {
                    rss.push((i, rss_of(service.pid())));
                }
            }
            Ok::<(), Failure>(())
        }
        .await;
        client.close();
        r
    })?;
    let wall = t.elapsed().as_secs_f64();
    let ticks = service.cpu_ticks().saturating_sub(cpu0);
    let per_ms = ticks as f64 * 10.0 / f64::from(a.sessions.max(1));
    crate::outln!(
        "{} no-op sessions: service CPU {per_ms:.2} ms per session ({:.1} s in all, {:.1} ms wall per session, {} bytes per session on the wire); {moved} entries moved",
        a.sessions,
        ticks as f64 / 100.0,
        1000.0 * wall / f64::from(a.sessions.max(1)),
        bytes / u64::from(a.sessions.max(1))
    );
    crate::outln!(
        "  63 provinces every 300 s: {:.3} % of one core",
        100.0 * 63.0 * per_ms / 1000.0 / 300.0
    );
    crate::outln!(
        "  service RSS (MiB) after sessions: {}",
        rss.iter()
            .map(|(i, b)| format!("{i}: {:.0}", mib(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 3. Sessions that bring new initiatives.
    let mut session_ticks = 0u64;
    let mut ingest_ticks = 0u64;
    let mut sent = 0u64;
    // Numbers no earlier run used (an earlier run's initiatives are at the national node now).
    let first_block = 1_000 + (node::now_ms() / 1_000 % 10_000) * 20;
    let blocks_per_round = a.new / (a.shape.1 * a.shape.2).max(1) as u64 + 1;
    for round in 0..a.rounds {
        let block = first_block + u64::from(round) * blocks_per_round;
        let numbers = province_numbers(a.shape, a.province, block, a.new);
        let mut prov = Node::open(&prov_dir).map_err(fail)?;
        let entries: Vec<Entry> = numbers.iter().map(|n| synth.initiative(*n).0).collect();
        let c = cpu_ticks("/proc/self/stat");
        let r = prov.import(entries, node::now_ms()).map_err(fail)?;
        ingest_ticks += cpu_ticks("/proc/self/stat").saturating_sub(c);
        if r.accepted as u64 != a.new {
            return Err(fail(format!(
                "the province stored {} of {}",
                r.accepted, a.new
            )));
        }
        drop(prov);
        let cpu0 = service.cpu_ticks();
        let o = rt.block_on(async {
            let client = Service::start(&prov_dir, bind).map_err(fail)?;
            let o = sync_once(&client, addr).await;
            client.close();
            o
        })?;
        session_ticks += service.cpu_ticks().saturating_sub(cpu0);
        sent += o.stats.entries_sent;
    }
    if a.rounds > 0 {
        let rounds = f64::from(a.rounds);
        crate::outln!(
            "{} sessions bringing {} new initiatives each ({sent} sent in all): service CPU {:.1} ms per session, storing them included; their ingest at the province took {:.1} ms CPU per session",
            a.rounds,
            a.new,
            session_ticks as f64 * 10.0 / rounds,
            ingest_ticks as f64 * 10.0 / rounds
        );
    }
    crate::outln!(
        "service RSS at the end: {:.0} MiB; load after: {}; bench ran {:.0} s",
        mib(rss_of(service.pid())),
        loadavg(),
        started.elapsed().as_secs_f64()
    );
    drop(service);
    Ok(0)
}

/// One session from the province, as `sangkien sync` runs it. The service answers one session
/// per unit at a time and frees the unit's slot as the last session's task ends: a session
/// refused as busy is tried again a moment later.
async fn sync_once(client: &Service, addr: SocketAddr) -> Result<node::sync::SideOutcome, Failure> {
    use node::quic::CloseCode;
    use node::service::ServiceError;
    for _ in 0..1_000 {
        match client.sync_with(addr).await {
            Err(ServiceError::Connect(c)) if c.peer_close_code() == Some(CloseCode::Busy) => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(ServiceError::Sync(node::sync::SyncError::Frame(f)))
                if f.peer_close_code() == Some(CloseCode::Busy) =>
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            r => return r.map_err(fail),
        }
    }
    Err(fail("the service stayed busy"))
}

pub(super) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
