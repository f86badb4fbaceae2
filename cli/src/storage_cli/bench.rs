//! `sangkien bench ...`: the crash test (a real writer process killed with SIGKILL at random
//! moments) and performance measurements (ingest against the bare ed25519 verify rates, report
//! latency at national scale, durable acknowledgement latency, bytes on disk, resident memory).
//! Benchmarks print what they measured; they assert nothing about time.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use node::check;
use node::report::UnitReport;
use node::Node;
use rand_core::{OsRng, RngCore};
use sync_protocol::ids::{EntryHash, UnitId};
use sync_protocol::store::EntryStore;

use super::synth::{self, Synth};
use crate::{Ctx, Failure};

/// Seed of the crash test's synthetic federation.
const CRASH_SEED: u64 = 7;
/// Tree of the crash test: 1 province, 1 district, 3 grassroots units.
const CRASH_SHAPE: (usize, usize, usize) = (1, 1, 3);
/// Initiatives per crash-writer batch (each batch also submits the previous batch's).
const CRASH_BATCH: u64 = 4;
/// A crash writer stops by itself after this many batches (it is normally killed long before).
const CRASH_MAX_BATCHES: u64 = 100_000;

/// `sangkien bench ...`
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Đồng bộ: byte và lượt đi-về so với negentropy, cách ngây thơ và Automerge; đồng bộ lần
    /// đầu qua QUIC so với tốc độ nạp / sync: bytes and round trips against negentropy, the
    /// naive method and Automerge's per-document sync; first sync over QUIC against ingest.
    Sync {
        /// 100.000 mục thay vì 1.000.000 / 100,000 entries instead of 1,000,000.
        #[arg(long)]
        quick: bool,
    },
    /// Thử sập nguồn: ghi, giết bằng SIGKILL, mở lại, đối chiếu / crash test: write, SIGKILL,
    /// reopen, check every acknowledged entry and the counters.
    Crash {
        /// Số chu kỳ / cycles.
        #[arg(long, default_value_t = 20)]
        cycles: u32,
        /// Thư mục làm việc (mặc định: thư mục tạm) / work directory (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Hạt giống các lựa chọn ngẫu nhiên (in ra để chạy lại) / seed of the random choices
        /// (printed, so that a failure replays; default: from the OS).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// The crash test's writer process (internal).
    #[command(hide = true)]
    CrashWriter {
        /// First batch to write.
        #[arg(long)]
        start: u64,
    },
    /// Nạp ở quy mô quốc gia / national-scale ingest: rates, report latency, disk, memory.
    National {
        /// Tổng số sáng kiến / initiatives in all.
        #[arg(long, default_value_t = 100_000)]
        initiatives: u64,
        /// Điểm đo / where to measure (initiatives held), comma-separated.
        #[arg(long, value_delimiter = ',')]
        checkpoints: Vec<u64>,
        /// Mục mỗi lô / entries per batch (one transaction, one fsync round).
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        /// Tỉnh, huyện mỗi tỉnh, cơ sở mỗi huyện / provinces, districts per province, grassroots
        /// per district.
        #[arg(long, value_delimiter = ',', default_value = "63,20,100")]
        shape: Vec<usize>,
        /// Thư mục (mặc định: thư mục tạm, xóa khi xong) / directory (default: temp, removed).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Cuối cùng chạy `node check` (O(bản ghi)) / run the full check at the end.
        #[arg(long)]
        check: bool,
    },
    /// Nút quốc gia đang chạy phục vụ đồng bộ thật / a real `node run` serving a national node
    /// (--data DIR/tld, made by `bench national --dir DIR`) to a province's real QUIC sync
    /// sessions: the service's CPU per session with nothing new and with new initiatives, its
    /// memory over many sessions, the province's first sync against the ingest rate.
    Serve {
        /// Số phiên không có gì mới / sessions with nothing new.
        #[arg(long, default_value_t = 1_000)]
        sessions: u32,
        /// Số phiên mang sáng kiến mới / sessions bringing new initiatives.
        #[arg(long, default_value_t = 10)]
        rounds: u32,
        /// Sáng kiến mới mỗi phiên / new initiatives per such session.
        #[arg(long, default_value_t = 100)]
        new: u64,
        /// Hình cây như đã cho `bench national` / the tree's shape as given to `bench national`.
        #[arg(long, value_delimiter = ',', default_value = "63,20,100")]
        shape: Vec<usize>,
        /// Tỉnh đồng bộ (số thứ tự) / which province syncs (its number, p<N>).
        #[arg(long, default_value_t = 0)]
        province: usize,
        /// Bộ đệm trang của dịch vụ, MiB / the service's page cache, MiB.
        #[arg(long, default_value_t = 256)]
        cache_mb: u64,
        /// Thư mục cho nút tỉnh (mặc định: tạm, xóa khi xong) / directory for the province
        /// node (default: temp, removed).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Độ trễ lưu bền một mục / durable acknowledgement latency of single entries.
    Ack {
        /// Số lần / how many.
        #[arg(long, default_value_t = 300)]
        count: u32,
        /// Thư mục / directory (default: temp).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Đo lệnh thật qua dịch vụ đang chạy / the real commands through a running service on
    /// an existing node (--data, e.g. made by `bench national --dir DIR`: DIR/tld): `report`
    /// (table and JSON), a page of `initiative list` and of `initiative search`, each timed in
    /// the service and as a whole command; then writes through the service (fsync included).
    /// Starts `node run` on the node when none serves it, and stops it at the end.
    Report {
        /// Số lần đo mỗi lệnh / runs per command.
        #[arg(long, default_value_t = 21)]
        runs: usize,
        /// Số lần ghi / writes through the service.
        #[arg(long, default_value_t = 200)]
        writes: usize,
        /// Đơn vị con nhận chỉ tiêu khi đo ghi / the child unit the writes assign a target to
        /// (`p0`: the first province of `bench national`).
        #[arg(long, default_value = "p0")]
        child: String,
    },
    /// Giao diện web của nút quốc gia đang chạy / the web interface of a real `node run` serving
    /// a node made by `bench national --dir DIR`: logs in over HTTP and requests every page
    /// and download N times; server time (the `Server-Timing` header) and bytes per page,
    /// against p99 ≤ 100 ms and ≤ 100 KB.
    Web {
        /// Thư mục của `bench national` (hoặc thư mục dữ liệu của nút) / the `bench national`
        /// directory (or the node's data directory).
        #[arg(long)]
        dir: PathBuf,
        /// Số lần yêu cầu mỗi trang / requests per page.
        #[arg(long, default_value_t = 20)]
        requests: usize,
        /// Bỏ qua các trang này (tên như khi in, cách nhau bằng dấu phẩy) / skip these pages
        /// (names as printed, comma-separated).
        #[arg(long, value_delimiter = ',')]
        skip: Vec<String>,
        /// Bộ nhớ đệm trang của dịch vụ, MiB / the service's page cache, MiB.
        #[arg(long, default_value_t = 256)]
        cache_mb: u64,
    },
    /// Độ trễ ghi qua dịch vụ đang chạy / write latency through running services, fsync
    /// included: `initiative new` and `decide submit` at a grassroots node enrolled in the
    /// federation of `bench national` (made here, next to --data, and removed at the end),
    /// and `target assign` at the node in --data (the national node, DIR/tld). Starts
    /// `node run` on each node no service serves, and stops it at the end.
    Write {
        /// Số lần ghi mỗi lệnh / writes per command.
        #[arg(long, default_value_t = 200)]
        writes: usize,
        /// Đơn vị con nhận chỉ tiêu / the child unit the target writes assign to.
        #[arg(long, default_value = "p0")]
        child: String,
        /// Đơn vị cấp trên trực tiếp của nút cơ sở mới / the direct superior (a district of
        /// `bench national`) that enrols the new grassroots node.
        #[arg(long, default_value = "p0-d0")]
        district: String,
        /// Giữ nút cơ sở sau khi đo / keep the grassroots node afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// Thời gian mở một nút có sẵn (--data), mỗi lần một tiến trình mới / open time of an
    /// existing node (--data): `Node::open` in fresh processes, and a real command end to end.
    Open {
        /// Số lần / runs (each a new process).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// One timed open (internal: the process `bench open` starts).
    #[command(hide = true)]
    OpenOnce,
    /// Tốc độ kiểm chữ ký ed25519 trên một lõi / bare ed25519 verify rates on one core.
    Verify {
        /// Số chữ ký / signatures.
        #[arg(long, default_value_t = 32_768)]
        count: usize,
    },
}

/// Runs a bench subcommand.
pub fn run(ctx: &Ctx, c: BenchCommand) -> Result<u8, Failure> {
    match c {
        BenchCommand::Sync { quick } => {
            let mut out = std::io::stdout();
            crate::bench_sync::reconciliation(ctx.json, quick, &mut out)
                .map_err(|e| Failure::problem(e.to_string()))?;
            crate::bench_sync::first_sync(ctx.json, &mut out).map_err(Failure::problem)?;
            Ok(0)
        }
        BenchCommand::Crash { cycles, dir, seed } => crash(cycles, dir, seed),
        BenchCommand::CrashWriter { start } => crash_writer(ctx, start),
        BenchCommand::National {
            initiatives,
            checkpoints,
            batch,
            shape,
            dir,
            check,
        } => national(initiatives, checkpoints, batch, &shape, dir, check),
        BenchCommand::Ack { count, dir } => ack(count, dir),
        BenchCommand::Serve {
            sessions,
            rounds,
            new,
            shape,
            province,
            cache_mb,
            dir,
        } => {
            let [p, d, g] = shape[..] else {
                return Err(Failure::input(
                    "--shape takes three numbers: provinces,districts,grassroots",
                ));
            };
            super::bench_serve::serve(super::bench_serve::ServeArgs {
                data: ctx.data()?.clone(),
                sessions,
                rounds,
                new,
                shape: (p, d, g),
                province,
                cache_mb,
                dir,
            })
        }
        BenchCommand::Report {
            runs,
            writes,
            child,
        } => report(ctx, runs, writes, &child),
        BenchCommand::Web {
            dir,
            requests,
            skip,
            cache_mb,
        } => super::bench_web::web(super::bench_web::WebArgs {
            dir,
            requests,
            skip,
            cache_mb,
        }),
        BenchCommand::Write {
            writes,
            child,
            district,
            keep,
        } => write_bench(ctx, writes, &child, &district, keep),
        BenchCommand::Open { runs } => open_bench(ctx, runs),
        BenchCommand::OpenOnce => open_once(ctx),
        BenchCommand::Verify { count } => {
            let (single, batch) = verify_rates(count);
            crate::outln!("ed25519 verify_strict, one core: {single:.0} signatures/s");
            crate::outln!("ed25519 verify_batch, one core:  {batch:.0} signatures/s");
            Ok(0)
        }
    }
}

pub(super) fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::problem(e.to_string())
}

pub(super) struct Scratch {
    pub(super) path: PathBuf,
    remove: bool,
}
impl Scratch {
    pub(super) fn new(dir: Option<PathBuf>, name: &str) -> Result<Self, Failure> {
        let (path, remove) = match dir {
            Some(d) => (d, false),
            None => (
                std::env::temp_dir().join(format!("sangkien-bench-{name}-{}", std::process::id())),
                true,
            ),
        };
        if path.exists() {
            return Err(Failure::input(format!(
                "{} already exists; give a new directory",
                path.display()
            )));
        }
        std::fs::create_dir_all(&path).map_err(fail)?;
        Ok(Self { path, remove })
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ---- crash test --------------------------------------------------------------------------

/// SplitMix64: the crash test's choices (how many acknowledgements to wait for, how long to
/// spin before the kill) from one printed seed.
struct SplitMix(u64);
impl SplitMix {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 32) as u32
    }
}

fn crash(cycles: u32, dir: Option<PathBuf>, seed: Option<u64>) -> Result<u8, Failure> {
    let seed = seed.unwrap_or_else(|| OsRng.next_u64());
    // First, so that any failure below can be replayed (the kill's exact instant still
    // depends on the machine's timing; which batch it follows and the spin do not).
    crate::outln!("seed: {seed} (replay: sangkien bench crash --cycles {cycles} --seed {seed})");
    let mut rng = SplitMix(seed);
    crash_cycles(cycles, dir, &mut rng).map_err(|mut f| {
        f.message = format!("{} (seed {seed})", f.message);
        f
    })
}

fn crash_cycles(cycles: u32, dir: Option<PathBuf>, rng: &mut SplitMix) -> Result<u8, Failure> {
    let scratch = Scratch::new(dir, "crash")?;
    let data = scratch.path.join("tld");
    drop(synth::create(&data, CRASH_SEED, CRASH_SHAPE).map_err(fail)?);
    let exe = std::env::current_exe().map_err(fail)?;
    let mut acknowledged: Vec<EntryHash> = Vec::new();
    let mut next_batch = 0u64;
    let mut lost = 0usize;
    let mut mismatches = 0usize;
    for cycle in 1..=cycles {
        let mut child = Command::new(&exe)
            .args(["--data", &data.to_string_lossy(), "bench", "crash-writer"])
            .args(["--start", &next_batch.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(fail)?;
        let stdout = child.stdout.take().ok_or_else(|| fail("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        // Kill after a random number of acknowledged batches (0 to 3), plus a random spin, so
        // that the kill lands anywhere inside the next batch's write.
        let wait_for = rng.next_u32() % 4;
        let mut seen = 0;
        let record = |line: &str, acknowledged: &mut Vec<EntryHash>, next: &mut u64| {
            let mut parts = line.split_whitespace();
            if parts.next() != Some("ack") {
                return;
            }
            if let Some(b) = parts.next().and_then(|b| b.parse::<u64>().ok()) {
                *next = (*next).max(b + 1);
            }
            for h in parts {
                let mut x = [0u8; 32];
                if hex::decode_to_slice(h, &mut x).is_ok() {
                    acknowledged.push(EntryHash(x));
                }
            }
        };
        while seen < wait_for {
            match lines.next() {
                Some(Ok(line)) => {
                    record(&line, &mut acknowledged, &mut next_batch);
                    seen += 1;
                }
                _ => break,
            }
        }
        let spins = rng.next_u32() % 2_000_000;
        for _ in 0..spins {
            std::hint::spin_loop();
        }
        let _ = child.kill();
        // Acknowledgements printed before the kill still count: read to the end of the pipe.
        for line in lines.map_while(Result::ok) {
            record(&line, &mut acknowledged, &mut next_batch);
        }
        let status = child.wait().map_err(fail)?;
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        if !err.trim().is_empty() && status.code().is_some() {
            crate::errln!("cycle {cycle}: writer said: {}", err.trim());
        }
        // Reopen as a fresh process would, and compare.
        let mut n = Node::open(&data).map_err(fail)?;
        let mut missing = 0;
        for h in &acknowledged {
            if !n.store().contains(h).map_err(fail)? {
                missing += 1;
            }
        }
        lost += missing;
        let report = check::run(&mut n, node::now_ms(), false).map_err(fail)?;
        mismatches += report.problem_count;
        for p in &report.problems {
            crate::errln!("cycle {cycle}: {p}");
        }
        crate::outln!(
            "cycle {cycle}: killed after {seen} acknowledged batches this run; {} entries held, {} acknowledged so far, {missing} lost, {} disagreements",
            n.store().len().map_err(fail)?,
            acknowledged.len(),
            report.problem_count
        );
    }
    crate::outln!(
        "cycles: {cycles}, acknowledged: {}, lost: {lost}, counter mismatches: {mismatches}",
        acknowledged.len()
    );
    Ok(if lost == 0 && mismatches == 0 { 0 } else { 1 })
}

/// The writer: batch after batch of new initiatives (and the previous batch's submissions),
/// printing `ack <batch> <hash>...` only after `Node::import` returned, i.e. after the fsync.
fn crash_writer(ctx: &Ctx, start: u64) -> Result<u8, Failure> {
    let mut n = Node::open(ctx.data()?).map_err(fail)?;
    let s = synth::attach(&n, CRASH_SEED, CRASH_SHAPE);
    let out = std::io::stdout();
    for b in start..start + CRASH_MAX_BATCHES {
        let mut entries = Vec::new();
        for i in 0..CRASH_BATCH {
            entries.push(s.initiative(b * CRASH_BATCH + i).0);
        }
        if b > 0 {
            for i in 0..CRASH_BATCH {
                let k = (b - 1) * CRASH_BATCH + i;
                let (_, record, heads) = s.initiative(k);
                entries.push(s.submission(k, record, heads));
            }
        }
        let hashes: Vec<String> = entries.iter().map(|e| e.hash().to_hex()).collect();
        let r = n.import(entries, node::now_ms()).map_err(fail)?;
        if let Some((h, why)) = r.rejected.first() {
            return Err(fail(format!("batch {b}: {h} refused: {why}")));
        }
        if !r.quarantined.is_empty() {
            return Err(fail(format!("batch {b}: {:?} waits", r.quarantined)));
        }
        let mut o = out.lock();
        writeln!(o, "ack {b} {}", hashes.join(" ")).map_err(fail)?;
        o.flush().map_err(fail)?;
    }
    Ok(0)
}

// ---- verify rates ------------------------------------------------------------------------

/// Signatures per second on one core: `verify_strict` one by one (what `Entry::decode` does),
/// and `verify_batch` in batches of 64.
pub fn verify_rates(count: usize) -> (f64, f64) {
    let keys: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect();
    let msgs: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let mut m = vec![0u8; 600];
            m[..8].copy_from_slice(&(i as u64).to_be_bytes());
            m
        })
        .collect();
    let sigs: Vec<Signature> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % 64].sign(m))
        .collect();
    let vks: Vec<VerifyingKey> = (0..count).map(|i| keys[i % 64].verifying_key()).collect();
    let t = Instant::now();
    for i in 0..count {
        let _ = vks[i].verify_strict(&msgs[i], &sigs[i]);
    }
    let single = count as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut ok = true;
    for start in (0..count).step_by(64) {
        let end = (start + 64).min(count);
        let m: Vec<&[u8]> = msgs[start..end].iter().map(|m| m.as_slice()).collect();
        ok &= ed25519_dalek::verify_batch(&m, &sigs[start..end], &vks[start..end]).is_ok();
    }
    let batch = count as f64 / t.elapsed().as_secs_f64();
    if !ok {
        crate::errln!("verify_batch refused a valid batch");
    }
    let _ = vks[0].verify(&msgs[0], &sigs[0]);
    (single, batch)
}

/// The ingest floor: `verify_strict` of `count` signatures on every core at once (each entry
/// a node ingests needs one strict check; `verify_batch` is not allowed, see ARCHITECTURE.md).
/// Returns the cores used and signatures per second.
pub fn strict_floor(count: usize) -> (usize, f64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let keys: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect();
    let work: Vec<(VerifyingKey, Vec<u8>, Signature)> = (0..count)
        .map(|i| {
            let mut m = vec![0u8; 600];
            m[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let k = &keys[i % 64];
            let sig = k.sign(&m);
            (k.verifying_key(), m, sig)
        })
        .collect();
    let t = Instant::now();
    let refused = std::thread::scope(|sc| {
        let handles: Vec<_> = work
            .chunks(count.div_ceil(cores).max(1))
            .map(|part| {
                sc.spawn(move || {
                    part.iter()
                        .filter(|(vk, m, sig)| vk.verify_strict(m, sig).is_err())
                        .count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(1))
            .sum::<usize>()
    });
    let rate = count as f64 / t.elapsed().as_secs_f64();
    if refused > 0 {
        crate::errln!("verify_strict refused {refused} valid signatures");
    }
    (cores, rate)
}

// ---- national ingest ---------------------------------------------------------------------

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
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

fn disk_bytes(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += disk_bytes(&e.path()),
                Ok(m) => {
                    use std::os::unix::fs::MetadataExt;
                    total += m.blocks() * 512;
                }
                Err(_) => {}
            }
        }
    }
    total
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Generates initiatives `from..to` as entry bytes, on both cores (untimed).
fn generate(s: &Synth, from: u64, to: u64) -> Vec<Vec<u8>> {
    let mid = from + (to - from) / 2;
    std::thread::scope(|sc| {
        let a = sc.spawn(|| {
            (from..mid)
                .map(|n| s.initiative(n).0.bytes().to_vec())
                .collect::<Vec<_>>()
        });
        let mut b: Vec<Vec<u8>> = (mid..to)
            .map(|n| s.initiative(n).0.bytes().to_vec())
            .collect();
        let mut out = a.join().unwrap_or_default();
        out.append(&mut b);
        out
    })
}

/// Imports `bytes` in batches through the node's ingest pipeline (decoding with the strict
/// signature check and first-change states on every core, overlapped with the sequential
/// verification and commit of the previous batch). Returns the time taken.
fn ingest(
    n: &mut Node,
    bytes: &[Vec<u8>],
    batch: usize,
    cpu: &mut CpuUse,
) -> Result<Duration, Failure> {
    let t = Instant::now();
    let process0 = cpu_ticks("/proc/self/stat");
    let r = node::ingest::ingest(
        n,
        bytes.chunks(batch).map(|c| c.iter().collect::<Vec<_>>()),
        node::now_ms,
        |_, _| Ok(()),
    )
    .map_err(fail)?;
    cpu.process_ticks += cpu_ticks("/proc/self/stat").saturating_sub(process0);
    if let Some((h, why)) = r.rejected.first() {
        return Err(fail(format!("{h} refused: {why}")));
    }
    if let Some((b, i, why)) = r.undecodable.first() {
        return Err(fail(format!("batch {b}, entry {i}: {why}")));
    }
    Ok(t.elapsed())
}

/// CPU time used while ingesting, in clock ticks (`/proc`, 100 per second).
#[derive(Default)]
struct CpuUse {
    process_ticks: u64,
}

/// User + system clock ticks of a `/proc/.../stat` file (fields 14 and 15), 0 if unreadable.
pub(super) fn cpu_ticks(path: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string(path) else {
        return 0;
    };
    // The command name (field 2) may hold spaces; fields after its closing parenthesis.
    let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    // After the parenthesis, field 3 (state) is at index 0: utime (14) is at 11, stime at 12.
    get(11) + get(12)
}

fn national(
    total: u64,
    mut checkpoints: Vec<u64>,
    batch: usize,
    shape: &[usize],
    dir: Option<PathBuf>,
    full_check: bool,
) -> Result<u8, Failure> {
    let [p, d, g] = shape else {
        return Err(Failure::input(
            "--shape takes three numbers: provinces,districts,grassroots",
        ));
    };
    let batch = batch.clamp(1, sync_protocol::limits::MAX_BATCH_ENTRIES);
    checkpoints.retain(|c| *c <= total);
    if checkpoints.last() != Some(&total) {
        checkpoints.push(total);
    }
    checkpoints.sort_unstable();
    checkpoints.dedup();
    let (single, batched) = verify_rates(32_768);
    crate::outln!(
        "bare ed25519 on one core: verify_strict {single:.0}/s, verify_batch {batched:.0}/s"
    );
    let (cores, floor) = strict_floor(65_536);
    crate::outln!(
        "floor (verify_strict on all {cores} cores at once, measured now and again at the end): {floor:.0}/s"
    );
    let scratch = Scratch::new(dir, "national")?;
    let data = scratch.path.join("tld");
    let t = Instant::now();
    let (mut n, s) = synth::create(&data, 1, (*p, *d, *g)).map_err(fail)?;
    crate::outln!(
        "tree: {} units ({} grassroots) certified in {:.1} s",
        s.units.len() + 1,
        s.grassroots.len(),
        t.elapsed().as_secs_f64()
    );
    let root = UnitId::new("tld").map_err(fail)?;
    let province = s.units[0].0.unit().clone();
    let mut held = 0u64;
    let mut ingest_time = Duration::ZERO;
    let mut cpu = CpuUse::default();
    let mut gen_time = Duration::ZERO;
    // "seg.": the initiatives since the previous checkpoint, so that the rate and the CPU per
    // initiative at 1,000,000 compare with those at 100,000. "counters": `UnitReport::build`
    // (the counters alone, O(children)), not the `report` command (see `bench report`).
    crate::outln!(
        "{:>10} {:>10} {:>10} {:>8} {:>10} {:>10} {:>10} {:>10} {:>12} {:>8}",
        "held",
        "ingest/s",
        "seg. /s",
        "%floor",
        "seg. µs",
        "counters",
        "cntrs max",
        "prov. p50",
        "disk B/init",
        "RSS MiB"
    );
    let (mut seg_from_time, mut seg_from_ticks, mut seg_from_held) = (Duration::ZERO, 0u64, 0u64);
    let segment = 50_000u64;
    for cp in checkpoints {
        while held < cp {
            let to = (held + segment).min(cp);
            let tg = Instant::now();
            let bytes = generate(&s, held, to);
            gen_time += tg.elapsed();
            ingest_time += ingest(&mut n, &bytes, batch, &mut cpu)?;
            held = to;
        }
        let mut times = Vec::new();
        let mut ptimes = Vec::new();
        let mut counted = 0;
        for _ in 0..21 {
            let t = Instant::now();
            let r =
                UnitReport::build(&n, &root, s.programme, 1, None, node::now_ms()).map_err(fail)?;
            times.push(t.elapsed());
            counted = r.counts.initiatives;
            let t = Instant::now();
            UnitReport::build(&n, &province, s.programme, 1, None, node::now_ms()).map_err(fail)?;
            ptimes.push(t.elapsed());
        }
        times.sort();
        ptimes.sort();
        if counted != held {
            crate::errln!("the national report counts {counted}, {held} were ingested");
        }
        let rate = held as f64 / ingest_time.as_secs_f64();
        let seg_n = (held - seg_from_held).max(1) as f64;
        let seg_rate = seg_n / (ingest_time - seg_from_time).as_secs_f64().max(1e-9);
        let seg_cpu_us = (cpu.process_ticks - seg_from_ticks) as f64 * 1e4 / seg_n;
        (seg_from_time, seg_from_ticks, seg_from_held) = (ingest_time, cpu.process_ticks, held);
        crate::outln!(
            "{:>10} {:>10.0} {:>10.0} {:>7.1}% {:>10.0} {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>12.0} {:>8.0}",
            held,
            rate,
            seg_rate,
            100.0 * seg_rate / floor,
            seg_cpu_us,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 1.0)),
            ms(percentile(&ptimes, 0.5)),
            disk_bytes(&data.join(node::node::DB_DIR)) as f64 / held as f64,
            rss_bytes() as f64 / 1048576.0
        );
        let _ = std::io::stdout().flush();
    }
    crate::outln!(
        "ingested {held} initiatives in {:.1} s ({:.1} s generating them, not counted)",
        ingest_time.as_secs_f64(),
        gen_time.as_secs_f64()
    );
    let (_, floor_end) = strict_floor(65_536);
    let rate = held as f64 / ingest_time.as_secs_f64().max(1e-9);
    crate::outln!(
        "floor again at the end: {floor_end:.0}/s; ingest overall {rate:.0}/s = {:.1} % of the floor ({:.1} % of the lower of the two)",
        100.0 * rate / floor.max(floor_end),
        100.0 * rate / floor.min(floor_end)
    );
    let cpu_s = cpu.process_ticks as f64 / 100.0;
    crate::outln!(
        "CPU time while ingesting: {cpu_s:.1} s on all threads = {:.0} µs per initiative ({:.2} cores busy on average)",
        cpu_s * 1e6 / held.max(1) as f64,
        cpu_s / ingest_time.as_secs_f64().max(1e-9)
    );
    sync_offer(&n, &province, 20)?;
    if full_check {
        let t = Instant::now();
        let r = check::run(&mut n, node::now_ms(), false).map_err(fail)?;
        crate::outln!(
            "node check: {} disagreements, {:.1} s",
            r.problem_count,
            t.elapsed().as_secs_f64()
        );
        if !r.is_clean() {
            return Ok(1);
        }
    }
    Ok(0)
}

// ---- what a province's no-op sync session costs the national node ------------------------

/// CPU time of the calling thread, nanoseconds (`/proc/thread-self/schedstat`), 0 if unreadable.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

/// The responder side of a province's sync session with nothing to move, as the service runs
/// it (`PeerSource::for_peer`, then the session answering the province's messages), against
/// the offer built as before (`entries_for`, every record read and scope-checked), in CPU time
/// of this thread. The province holds exactly what it is offered.
fn sync_offer(n: &Node, province: &UnitId, runs: u32) -> Result<(), Failure> {
    use node::sync::PeerSource;
    use sync_protocol::sync::{Role, SyncSession, SyncSource};
    let now = node::now_ms();
    let fed = n.federation();
    let c = thread_cpu_ns();
    let before = n.entries_for(province, now).map_err(fail)?;
    let before_ns = thread_cpu_ns() - c;
    let count = before.len();
    drop(before);
    let theirs = PeerSource::for_peer(n, province, now).map_err(fail)?;
    let (offered, _) = theirs.summarize(None, &sync_protocol::sync::Bound::Infinity);
    let rss0 = rss_bytes();
    let mut serve_ns = 0u64;
    let mut offer_ns = 0u64;
    for _ in 0..runs {
        let mut init = SyncSession::new(Role::Initiator, fed, now);
        init.start(now, &theirs, None);
        let c = thread_cpu_ns();
        let ours = PeerSource::for_peer(n, province, now).map_err(fail)?;
        offer_ns += thread_cpu_ns() - c;
        let mut resp = SyncSession::new(Role::Responder, fed, now);
        for _ in 0..64 {
            let mut moved = false;
            while let Some(m) = init.poll_transmit() {
                moved = true;
                let c = thread_cpu_ns();
                resp.handle_message(now, m, &ours);
                serve_ns += thread_cpu_ns() - c;
            }
            while let Some(m) = resp.poll_transmit() {
                moved = true;
                init.handle_message(now, m, &theirs);
            }
            if !moved {
                break;
            }
        }
        if resp.stats().entries_sent + init.stats().entries_sent != 0 {
            eprintln!("the no-op session moved entries");
        }
    }
    let per = |ns: u64| ns as f64 / 1e6 / f64::from(runs.max(1));
    println!(
        "a province's no-op sync at this node ({offered} keys offered; {count} by entries_for): offer built as before (entries_for) {:.1} ms CPU; now {:.1} ms CPU per session ({:.1} ms building the offer, {:.2} ms answering), {runs} sessions; RSS {:.0} → {:.0} MiB",
        before_ns as f64 / 1e6,
        per(offer_ns + serve_ns),
        per(offer_ns),
        per(serve_ns),
        rss0 as f64 / 1048576.0,
        rss_bytes() as f64 / 1048576.0
    );
    Ok(())
}

// ---- durable acknowledgement latency -----------------------------------------------------

fn ack(count: u32, dir: Option<PathBuf>) -> Result<u8, Failure> {
    let scratch = Scratch::new(dir, "ack")?;
    let data = scratch.path.join("tld");
    let (mut n, s) = synth::create(&data, 3, (2, 2, 5)).map_err(fail)?;
    let mut lat = Vec::with_capacity(count as usize);
    let mut flush_only = Vec::with_capacity(count as usize);
    for i in 0..u64::from(count) {
        let (e, _, _) = s.initiative(i);
        let t = Instant::now();
        let r = n.import(vec![e], node::now_ms()).map_err(fail)?;
        lat.push(t.elapsed());
        if r.accepted != 1 {
            return Err(fail(format!("entry {i} not accepted: {r:?}")));
        }
        let t = Instant::now();
        n.store().durable().map_err(fail)?;
        flush_only.push(t.elapsed());
    }
    lat.sort();
    flush_only.sort();
    crate::outln!(
        "durable acknowledgement of one entry (verify + transaction + flush + fsync), {count} runs: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0))
    );
    crate::outln!(
        "of which the durability step alone (flush + fsync round, nothing new): p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&flush_only, 0.5)),
        ms(percentile(&flush_only, 0.99))
    );
    Ok(0)
}

// ---- report latency and memory of an existing node -----------------------------------------

/// A `node run` this bench started: stopped (SIGTERM, then waited for) when dropped.
/// Asks the service in `data` to carry out `args`; returns its output, its own time and the
/// round trip.
fn through_service(
    data: &Path,
    args: &[&str],
) -> Result<(node::control::RunOutput, Duration), Failure> {
    let t = Instant::now();
    let reply = node::control::request(
        data,
        node::control::Request::Run(node::control::RunRequest {
            args: args.iter().map(|a| a.to_string()).collect(),
            data: data.to_owned(),
            lang: "vi".into(),
        }),
    )
    .map_err(fail)?;
    let took = t.elapsed();
    match reply {
        node::control::Reply::Run(o) if o.code == 0 => Ok((o, took)),
        node::control::Reply::Run(o) => Err(fail(format!(
            "`{}` failed in the service (exit {}): {}",
            args.join(" "),
            o.code,
            o.stderr
        ))),
        other => Err(fail(format!("unexpected reply: {other:?}"))),
    }
}

fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&v, 0.5)),
        ms(percentile(&v, 0.99)),
        ms(percentile(&v, 1.0))
    )
}

/// The service serving `data`: the one running, or one started here (returned, stopped when
/// dropped).
fn serve(data: &Path) -> Result<Option<super::bench_serve::ServiceProcess>, Failure> {
    let mut started = None;
    if node::control::request(data, node::control::Request::Status).is_err() {
        let tag = format!(
            "{}-{}",
            std::process::id(),
            data.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let cfg = std::env::temp_dir().join(format!("sangkien-bench-{tag}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "data = {:?}\nlisten = \"127.0.0.1:0\"\ninterval_s = 3600\nlog_level = \"warn\"\n",
                data.display().to_string()
            ),
        )
        .map_err(fail)?;
        let log = std::env::temp_dir().join(format!("sangkien-bench-{tag}.log"));
        let t = Instant::now();
        let svc = super::bench_serve::ServiceProcess::start(&cfg, &log, || {
            node::control::request(data, node::control::Request::Status).is_ok()
        })?;
        crate::outln!(
            "started `sangkien node run` on {} (ready in {:.1} s; log {})",
            data.display(),
            t.elapsed().as_secs_f64(),
            log.display()
        );
        let _ = std::fs::remove_file(&cfg);
        started = Some(svc);
    } else {
        crate::outln!("a running service serves {}", data.display());
    }
    Ok(started)
}

fn report(ctx: &Ctx, runs: usize, writes: usize, child_unit: &str) -> Result<u8, Failure> {
    let data = std::fs::canonicalize(ctx.data()?).map_err(fail)?;
    let exe = std::env::current_exe().map_err(fail)?;
    let started = serve(&data)?;
    let commands: [&[&str]; 4] = [
        &["report"],
        &["--json", "report"],
        &["initiative", "list"],
        &["initiative", "search", "sang kien"],
    ];
    crate::outln!("{runs} runs each; \"node\" = the service's own time for the command, \"round trip\" = the control request, \"whole command\" = a new `sangkien --data DIR ...` process start to exit");
    for args in commands {
        let (first, _) = through_service(&data, args)?;
        let lines = first.stdout.lines().count();
        let mut node_t = Vec::with_capacity(runs);
        let mut trip = Vec::with_capacity(runs);
        for _ in 0..runs.max(1) {
            let (o, took) = through_service(&data, args)?;
            node_t.push(Duration::from_micros(o.service_us));
            trip.push(took);
        }
        let mut whole = Vec::with_capacity(runs);
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            let st = Command::new(&exe)
                .arg("--data")
                .arg(&data)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(fail)?;
            whole.push(t.elapsed());
            if !st.success() {
                return Err(fail(format!("`sangkien {}` failed: {st}", args.join(" "))));
            }
        }
        crate::outln!("`sangkien {}` ({lines} lines of output)", args.join(" "));
        crate::outln!("  node:          {}", summary(node_t));
        crate::outln!("  round trip:    {}", summary(trip));
        crate::outln!("  whole command: {}", summary(whole));
    }
    // Writes through the service: a target assignment of the root to its first child (the
    // national node registers no initiative itself), each a signed entry, verified, committed
    // and fsynced before the reply.
    let child = child_unit;
    let mut node_t = Vec::with_capacity(writes);
    let mut trip = Vec::with_capacity(writes);
    for i in 0..writes {
        let set = format!("{child}={}", 1000 + i);
        let (o, took) =
            through_service(&data, &["target", "assign", "--phase", "1", "--set", &set])?;
        node_t.push(Duration::from_micros(o.service_us));
        trip.push(took);
    }
    if writes > 0 {
        crate::outln!("`sangkien target assign --phase 1 --set {child}=N` through the service, {writes} writes (signed, verified, committed, fsynced before the reply)");
        crate::outln!("  node:          {}", summary(node_t));
        crate::outln!("  round trip:    {}", summary(trip));
    }
    crate::outln!(
        "database on disk: {:.0} MiB",
        disk_bytes(&data.join(node::node::DB_DIR)) as f64 / 1048576.0
    );
    drop(started);
    Ok(0)
}

// ---- write latency through the service ---------------------------------------------------

/// Seed and shape `bench national` makes its federation with (see [`national`]).
const NATIONAL_SEED: u64 = 1;

/// Enrols a new grassroots unit `bench-g` under `district` of the `bench national` federation
/// held at `national` (the district's key is the synthetic tree's), into `into`, holding the
/// national node's trust entries and the programme. Returns its data directory.
fn enrol_bench_grassroots(
    national: &Path,
    district: &str,
    into: &Path,
) -> Result<PathBuf, Failure> {
    use sync_protocol::author::Author;
    use sync_protocol::entry::{Certificate, EntryBody, UnitRole};
    use sync_protocol::store::EntryLookup;
    let n = Node::open(national).map_err(|e| {
        fail(format!(
            "bench write opens {} itself first to read its trust entries: {e}",
            national.display()
        ))
    })?;
    let s = synth::attach(&n, NATIONAL_SEED, (63, 20, 100));
    let district = UnitId::new(district).map_err(fail)?;
    if !n.directory().knows(&district) {
        return Err(fail(format!("{district} is not a unit of this node")));
    }
    let signer = Author::new(
        n.federation(),
        district.clone(),
        s.signing_key(district.as_str()),
    );
    let unit = UnitId::new("bench-g").map_err(fail)?;
    let key = node::node::prepare_enrolment(into).map_err(fail)?;
    let now = node::now_ms();
    let cert = signer.sign(
        now,
        EntryBody::Certificate(Certificate {
            unit: unit.clone(),
            name: sync_protocol::text::Text::new("name", "Công đoàn cơ sở đo ghi", 200)
                .map_err(fail)?,
            role: UnitRole::Grassroots,
            parent: district.clone(),
            key,
            replaces: None,
        }),
    );
    let (ff, genesis) = n.federation_file().map_err(fail)?;
    let trust = n.store().trust_entries().map_err(fail)?;
    // The new unit's chain first (its district's and province's certificates), then the rest
    // of the national directory in batches under the batch limit.
    let chain: Vec<UnitId> = n.directory().ancestors_at(&district, now);
    let (mine, rest): (Vec<_>, Vec<_>) = trust.into_iter().partition(|e| {
        matches!(e.body(), EntryBody::Certificate(c) if c.unit == district || chain.contains(&c.unit))
    });
    let mut first = mine;
    first.push(cert);
    let programme = n.store().record_entries(&s.programme).map_err(fail)?;
    drop(n);
    let t = Instant::now();
    let mut g = Node::create_enrolled(into, &ff, genesis, unit, first, now).map_err(fail)?;
    for chunk in rest.chunks(50_000) {
        g.import(chunk.to_vec(), node::now_ms()).map_err(fail)?;
    }
    g.import(programme, node::now_ms()).map_err(fail)?;
    crate::outln!(
        "enrolled grassroots node bench-g at {} ({} units known) in {:.1} s",
        into.display(),
        g.directory().units().len(),
        t.elapsed().as_secs_f64()
    );
    Ok(into.to_owned())
}

fn write_bench(
    ctx: &Ctx,
    writes: usize,
    child: &str,
    district: &str,
    keep: bool,
) -> Result<u8, Failure> {
    let data = std::fs::canonicalize(ctx.data()?).map_err(fail)?;
    let gdir = data
        .parent()
        .unwrap_or(Path::new("/"))
        .join(format!("bench-g-{}", std::process::id()));
    enrol_bench_grassroots(&data, district, &gdir)?;
    let gdir = std::fs::canonicalize(&gdir).map_err(fail)?;
    let result = (|| -> Result<(), Failure> {
        let national = serve(&data)?;
        let grassroots = serve(&gdir)?;
        let mut new_t = (Vec::new(), Vec::new());
        let mut submit_t = (Vec::new(), Vec::new());
        for i in 0..writes {
            let title = format!("Sáng kiến đo ghi số {i}: cải tiến băng tải");
            let (o, took) = through_service(
                &gdir,
                &[
                    "--json",
                    "initiative",
                    "new",
                    "--title",
                    &title,
                    "--author",
                    "Lê Thị Mai|Kỹ sư",
                    "--sector",
                    "production-business",
                    "--summary",
                    "Giảm hao hụt nguyên liệu",
                    "--phase",
                    "2",
                    "--registered",
                    "15/06/2026",
                    "--benefit",
                    "2.400.000.000",
                ],
            )?;
            new_t.0.push(Duration::from_micros(o.service_us));
            new_t.1.push(took);
            let v: serde_json::Value = serde_json::from_str(&o.stdout).map_err(fail)?;
            let id = v["id"]
                .as_str()
                .ok_or_else(|| fail("initiative new printed no id"))?
                .to_owned();
            let (o, took) = through_service(
                &gdir,
                &[
                    "decide",
                    "submit",
                    &id,
                    "--officer",
                    "Lê Văn An",
                    "--title",
                    "Chủ tịch",
                ],
            )?;
            submit_t.0.push(Duration::from_micros(o.service_us));
            submit_t.1.push(took);
        }
        let mut target_t = (Vec::new(), Vec::new());
        for i in 0..writes {
            let set = format!("{child}={}", 1000 + i);
            let (o, took) =
                through_service(&data, &["target", "assign", "--phase", "1", "--set", &set])?;
            target_t.0.push(Duration::from_micros(o.service_us));
            target_t.1.push(took);
        }
        crate::outln!("{writes} writes each, one at a time; \"node\" = the service's own time for the command (signed, verified, committed, fsynced before the reply), \"round trip\" = the control request");
        for (what, (node_t, trip)) in [
            ("initiative new (grassroots bench-g)", new_t),
            ("decide submit (grassroots bench-g)", submit_t),
            ("target assign (the node in --data)", target_t),
        ] {
            crate::outln!("`sangkien {what}`");
            crate::outln!("  node:          {}", summary(node_t));
            crate::outln!("  round trip:    {}", summary(trip));
        }
        drop(grassroots);
        drop(national);
        Ok(())
    })();
    if !keep {
        let _ = std::fs::remove_dir_all(&gdir);
    }
    result?;
    Ok(0)
}

// ---- open time of an existing node ----------------------------------------------------------

/// The line a `bench open-once` process prints: this word, then `Node::open`'s wall time (µs),
/// the process's CPU clock ticks when it printed, its resident memory (bytes), the units known.
const OPEN_ONCE_PREFIX: &str = "open-once";

/// `bench open-once`: opens the node in `--data` as every command does, and prints the time
/// `Node::open` took, the process's CPU time so far and its resident memory.
fn open_once(ctx: &Ctx) -> Result<u8, Failure> {
    let dir = ctx.data()?;
    let t = Instant::now();
    let n = Node::open(dir).map_err(fail)?;
    let opened = t.elapsed();
    let units = n.directory().units().len();
    println!(
        "{OPEN_ONCE_PREFIX} {} {} {} {units}",
        opened.as_micros(),
        cpu_ticks("/proc/self/stat"),
        rss_bytes()
    );
    Ok(0)
}

/// `bench open`: opens the node in `--data` in `runs` fresh processes (`bench open-once`, which
/// times `Node::open`, the function every command and `node run` start with), then times
/// `runs` runs of a real command (`node quarantine --limit 1`) end to end.
fn open_bench(ctx: &Ctx, runs: usize) -> Result<u8, Failure> {
    let dir = ctx.data()?.clone();
    let exe = std::env::current_exe().map_err(fail)?;
    let runs = runs.max(1);
    let mut process = Vec::with_capacity(runs);
    let mut open = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    let mut rss = 0u64;
    let mut units = 0usize;
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(&exe)
            .arg("--data")
            .arg(&dir)
            .args(["bench", "open-once"])
            .stderr(Stdio::inherit())
            .output()
            .map_err(fail)?;
        process.push(t.elapsed());
        if !out.status.success() {
            return Err(fail(format!("bench open-once: {}", out.status)));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<u64> = text
            .lines()
            .find_map(|l| l.strip_prefix(OPEN_ONCE_PREFIX))
            .map(|l| {
                l.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let [us, ticks, bytes, n] = f[..] else {
            return Err(fail(format!("bench open-once printed {text:?}")));
        };
        open.push(Duration::from_micros(us));
        cpu.push(Duration::from_millis(ticks * 10));
        rss = rss.max(bytes);
        units = n as usize;
    }
    let mut command = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let status = Command::new(&exe)
            .arg("--data")
            .arg(&dir)
            .args(["node", "quarantine", "--limit", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(fail)?;
        command.push(t.elapsed());
        if !status.success() {
            return Err(fail(format!("node quarantine: {status}")));
        }
    }
    for v in [&mut process, &mut open, &mut cpu, &mut command] {
        v.sort();
    }
    let store = disk_bytes(&dir.join(node::node::DB_DIR)) as f64 / 1048576.0;
    println!(
        "{}: {units} units, database {store:.0} MiB, {runs} fresh processes each",
        dir.display()
    );
    let line = |what: &str, v: &[Duration]| {
        println!(
            "{what:<44} p50 {:>8.1} ms   max {:>8.1} ms",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 1.0))
        );
    };
    line("Node::open", &open);
    line("process CPU (user+sys) up to the open's end", &cpu);
    line("process wall, start to exit (bench open-once)", &process);
    line("`sangkien node quarantine --limit 1`, wall", &command);
    println!(
        "resident memory after the open: {:.0} MiB",
        rss as f64 / 1048576.0
    );
    Ok(0)
}
