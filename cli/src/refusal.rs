//! Refusals as sentences: [`node::refusal`] (shared with the web interface), and the CLI's
//! failures built from them.

pub use node::refusal::*;

use crate::i18n::Lang;

/// Bad usage or input (exit 2), worded, with its cause for --verbose.
pub fn input<E>(lang: Lang, e: E) -> crate::Failure
where
    E: Worded + Into<anyhow::Error>,
{
    crate::Failure::input(e.worded(lang)).because(e)
}

/// A problem found while running (exit 1), worded, with its cause for --verbose.
pub fn problem<E>(lang: Lang, e: E) -> crate::Failure
where
    E: Worded + Into<anyhow::Error>,
{
    crate::Failure::problem(e.worded(lang)).because(e)
}
