//! The language of messages: [`node::lang::Lang`], shared with the web interface.

pub use node::lang::Lang;

/// Parses `--lang` (`vi` or `en`).
pub fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("{s:?}: vi | en"))
}
