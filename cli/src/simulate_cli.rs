//! Simulation commands: `sangkien simulate --preset NAME | --scenario FILE --seed N` (or
//! `--seeds A..B`), with a progress bar on stderr and the report as a table, JSON (`--json`)
//! or an SVG chart (`--chart FILE`). The simulation itself is the `simulations` crate.

use std::io::IsTerminal;
use std::path::PathBuf;

use simulations::scenario::MAX_SCENARIO_BYTES;
use simulations::Scenario;

use crate::{Ctx, Failure};

/// Most seeds one `--seeds` range may run.
pub const MAX_SEEDS: u64 = 1_000_000;

/// Simulation subcommands, flattened into the top level.
#[derive(clap::Subcommand, Debug)]
pub enum SimulateCommand {
    /// Chạy trình mô phỏng mạng tất định / run the deterministic network simulator.
    Simulate(SimulateArgs),
}

/// `sangkien simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Kịch bản có sẵn / a built-in scenario: small, small-faults, national-2024,
    /// national-2025, reform-2025.
    #[arg(long, conflicts_with = "scenario")]
    preset: Option<String>,
    /// Tệp kịch bản (JSON; xem simulations/README.md) / a scenario file (JSON; see
    /// simulations/README.md).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Hạt giống ngẫu nhiên / the seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Dải hạt giống `A..B` (không gồm B), in kết luận từng hạt / a range of seeds, `A..B`
    /// (B excluded), each printed with its verdict.
    #[arg(long)]
    seeds: Option<String>,
    /// Số công đoàn cơ sở (kịch bản quốc gia), thay mẫu 10 % / grassroots units (national
    /// presets), overriding the preset's 10 % sample.
    #[arg(long)]
    grassroots: Option<u32>,
    /// Ghi biểu đồ tiến độ dạng SVG vào tệp này / write the progress chart as SVG to this
    /// file.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Không hiện thanh tiến độ / no progress bar.
    #[arg(long)]
    quiet: bool,
}

fn load(ctx: &Ctx, a: &SimulateArgs) -> Result<(Scenario, String), Failure> {
    let mut s = match (&a.preset, &a.scenario) {
        (Some(p), None) => (
            Scenario::preset(p).map_err(|e| Failure::input(e.to_string()))?,
            format!("--preset {p}"),
        ),
        (None, Some(f)) => {
            let meta = std::fs::metadata(f)
                .map_err(|e| Failure::input(format!("{}: {}", f.display(), e)))?;
            if meta.len() > MAX_SCENARIO_BYTES as u64 {
                return Err(Failure::input(format!(
                    "{}: {} bytes, over the limit of {MAX_SCENARIO_BYTES}",
                    f.display(),
                    meta.len()
                )));
            }
            let text = std::fs::read_to_string(f)
                .map_err(|e| Failure::input(format!("{}: {}", f.display(), e)))?;
            (
                Scenario::from_json(&text)
                    .map_err(|e| Failure::input(format!("{}: {}", f.display(), e)))?,
                format!("--scenario {}", f.display()),
            )
        }
        _ => {
            return Err(Failure::input(ctx.lang.t(
                "chọn một trong --preset TÊN hoặc --scenario TỆP",
                "pass one of --preset NAME or --scenario FILE",
            )))
        }
    };
    if let Some(g) = a.grassroots {
        s.0.topology.grassroots = Some(g);
        s.0.validate().map_err(|e| Failure::input(e.to_string()))?;
    }
    Ok(s)
}

fn parse_range(r: &str) -> Result<(u64, u64), Failure> {
    let bad = || Failure::input(format!("--seeds {r:?}: expected A..B, e.g. 1..10000"));
    let (a, b) = r.split_once("..").ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if b <= a || b - a > MAX_SEEDS {
        return Err(Failure::input(format!(
            "--seeds {r:?}: B must be above A, at most {MAX_SEEDS} seeds"
        )));
    }
    Ok((a, b))
}

fn bar(quiet: bool, msg: String) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(1000);
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {percent:>3}% virtual time, {elapsed} wall",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg);
    pb
}

/// Peak resident memory of this process (Linux), for the benchmark line on stderr.
fn peak_memory() -> Option<String> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
}

/// Runs a simulation subcommand.
pub fn run_command(ctx: &Ctx, a: SimulateArgs) -> Result<u8, Failure> {
    let (scenario, arg) = load(ctx, &a)?;
    if let Some(r) = &a.seeds {
        let (from, to) = parse_range(r)?;
        let pb = bar(a.quiet, format!("{} seeds {from}..{to}", scenario.name));
        pb.set_length(to - from);
        let mut failed = 0u64;
        for seed in from..to {
            let report = simulations::run(&scenario, seed, &mut |_, _| {})
                .map_err(|e| Failure::input(e.to_string()))?;
            let broken: Vec<&String> = report
                .invariants
                .iter()
                .filter(|(_, v)| !**v)
                .map(|(k, _)| k)
                .collect();
            if broken.is_empty() {
                pb.println(format!("seed {seed}: ok"));
            } else {
                failed += 1;
                pb.println(format!(
                    "seed {seed}: FAILED ({})\n  replay: {}",
                    broken
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    simulations::replay_command(&arg, seed)
                ));
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
        crate::outln!("{} of {} seeds failed", failed, to - from);
        return Ok(u8::from(failed > 0));
    }
    let pb = bar(a.quiet, format!("{} seed {}", scenario.name, a.seed));
    let started = std::time::Instant::now();
    // A bar is only drawn on a terminal: when stderr goes to a file (a long national run in
    // the background), a line every 5 % of virtual time says how far it is instead.
    let log_lines = !a.quiet && !std::io::stderr().is_terminal();
    let mut logged = 0u64;
    let report = simulations::run(&scenario, a.seed, &mut |now, end| {
        let permille = (now.min(end) * 1000).checked_div(end).unwrap_or(0);
        pb.set_position(permille);
        if log_lines && permille >= logged + 50 {
            logged = permille - permille % 50;
            crate::errln!(
                "{}% virtual time, wall {:.0} s, peak memory {}",
                logged / 10,
                started.elapsed().as_secs_f64(),
                peak_memory().unwrap_or_else(|| "unknown".into())
            );
        }
    })
    .map_err(|e| Failure::input(e.to_string()))?;
    pb.finish_and_clear();
    let wall = started.elapsed();
    if ctx.json {
        crate::outln!("{}", report.to_json());
    } else {
        crate::out!("{}", report.to_table_in(ctx.lang));
    }
    if let Some(path) = &a.chart {
        std::fs::write(path, report.to_svg())
            .map_err(|e| Failure::input(format!("{}: {}", path.display(), e)))?;
    }
    // Wall-clock figures go to stderr: they are not part of the (deterministic) report.
    let secs = wall.as_secs_f64().max(1e-9);
    crate::errln!(
        "wall {:.1} s, {} events, {:.0} events/s, peak memory {}",
        secs,
        report.counters.events,
        report.counters.events as f64 / secs,
        peak_memory().unwrap_or_else(|| "unknown".into())
    );
    if !report.ok() {
        crate::errln!(
            "seed {} violated an invariant; replay: {}",
            report.seed,
            simulations::replay_command(&arg, report.seed)
        );
        if !report.trace.is_empty() {
            crate::errln!("trace:\n{}", report.trace.join("\n"));
        }
        return Ok(1);
    }
    Ok(0)
}

/// Runs a simulation subcommand.
pub fn run(ctx: &Ctx, c: SimulateCommand) -> Result<u8, Failure> {
    match c {
        SimulateCommand::Simulate(a) => run_command(ctx, a),
    }
}
