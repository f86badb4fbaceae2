//! Storage commands (`sangkien node ...`, `sangkien bench ...`): filled in by the storage work.

use crate::{Ctx, Failure};

/// Storage subcommands, flattened into the top level.
#[derive(clap::Subcommand, Debug)]
pub enum StorageCommand {}

/// Runs a storage subcommand.
pub fn run(_ctx: &Ctx, c: StorageCommand) -> Result<u8, Failure> {
    match c {}
}
