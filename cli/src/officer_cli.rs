//! Officer workflow commands (`initiative`, `decide`, `programme`, `target`, `list`, `report`): filled in by the workflow work.

use crate::{Ctx, Failure};

/// Officer subcommands, flattened into the top level.
#[derive(clap::Subcommand, Debug)]
pub enum OfficerCommand {}

/// Runs an officer subcommand.
pub fn run(_ctx: &Ctx, c: OfficerCommand) -> Result<u8, Failure> {
    match c {}
}
