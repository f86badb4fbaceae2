//! placeholder
use crate::{Ctx, Failure};
/// args
#[derive(clap::Args, Debug)]
pub struct Mau2Args {}
pub fn run(_ctx: &Ctx, _a: Mau2Args) -> Result<u8, Failure> {
    Ok(0)
}
