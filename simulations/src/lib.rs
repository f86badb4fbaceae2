//! sangkien's deterministic network simulator (DESIGN §6): many nodes' real sync sessions and
//! real verified import over a simulated network in virtual time, for operators planning a
//! campaign and as the project's deterministic simulation test (in the spirit of FoundationDB's
//! simulation and TigerBeetle's VOPR).
//!
//! One seed gives one run: every random choice comes from [`rng::Rng`] seeded by it; time is a
//! virtual `u64` of milliseconds; every collection whose order can reach a result is a
//! `BTreeMap`/`BTreeSet`; nothing runs on another thread. [`run`] returns a [`report::Report`]
//! whose renderings are the same bytes for the same seed.
//!
//! See `simulations/README.md` for the scenario format and the model's simplifications.

pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod store;
pub mod topology;

pub use report::Report;
pub use scenario::Scenario;

/// Why a simulation could not run (not an invariant violation: those are in the report).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is invalid.
    #[error("scenario: {0}")]
    Scenario(String),
    /// Building the federation or the workload failed.
    #[error("simulation: {0}")]
    Build(String),
}

/// Runs one scenario with one seed. `progress(now_ms, end_ms)` is called as virtual time passes.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, SimError> {
    scenario.validate()?;
    let tree = topology::build(&scenario.topology)?;
    let sim = sim::Sim::new(scenario, &tree, seed)?;
    sim.run(progress)
}

/// The command that replays a seed.
pub fn replay_command(scenario_arg: &str, seed: u64) -> String {
    format!("sangkien simulate {scenario_arg} --seed {seed}")
}
