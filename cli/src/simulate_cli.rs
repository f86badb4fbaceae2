//! Simulation commands (`sangkien simulate ...`): filled in by the simulator work.

use crate::{Ctx, Failure};

/// Simulation subcommands, flattened into the top level.
#[derive(clap::Subcommand, Debug)]
pub enum SimulateCommand {}

/// Runs a simulation subcommand.
pub fn run(_ctx: &Ctx, c: SimulateCommand) -> Result<u8, Failure> {
    match c {}
}
