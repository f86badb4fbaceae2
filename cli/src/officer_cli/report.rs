//! placeholder
use crate::{Ctx, Failure};
/// Output format.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
}
pub fn run(_ctx: &Ctx, _a: super::ReportArgs) -> Result<u8, Failure> {
    Ok(0)
}
