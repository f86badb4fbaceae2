//! `sangkien node registration open | close | status`: the members' self-registration page of
//! the node's web interface (node::self_registration; the page is node/src/web/register.rs).
//! Closed by default; the state is kept in the node's store, so it survives a restart, and the
//! commands work through the running service like every other command with `--data`.

use serde_json::json;

use crate::{Ctx, Failure};

/// `sangkien node registration ...`
#[derive(clap::Subcommand, Debug)]
pub enum RegistrationCommand {
    /// Mở trang tự đăng ký (/register) cho người lao động; trang tổng quan hiện mã QR / open
    /// the self-registration page (/register) to workers; the dashboard shows its QR code.
    Open {
        /// Địa chỉ trang như người lao động mở (mặc định: địa chỉ cán bộ dùng để mở trang
        /// tổng quan) / the page's address as workers reach it (default: the address the
        /// officer's browser used for the dashboard), e.g. http://192.168.1.20:7480/register.
        #[arg(long)]
        url: Option<String>,
    },
    /// Đóng trang tự đăng ký / close the self-registration page.
    Close,
    /// Trang đang mở hay đóng / whether the page is open.
    Status,
}

/// Most bytes of `--url`.
const MAX_URL_BYTES: usize = 512;

fn good_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://"))
        && u.len() <= MAX_URL_BYTES
        && u.bytes().all(|b| b.is_ascii_graphic())
}

/// Runs a registration command.
pub fn run(ctx: &Ctx, c: RegistrationCommand) -> Result<u8, Failure> {
    let l = ctx.lang;
    if let RegistrationCommand::Open { url: Some(u) } = &c {
        if !good_url(u) {
            return Err(Failure::input(format!(
                "--url {u:?}: {}",
                l.t(
                    "cần một địa chỉ http:// hoặc https:// không có khoảng trắng, tối đa 512 ký tự, ví dụ http://192.168.1.20:7480/register",
                    "needs an http:// or https:// address without spaces, at most 512 characters, e.g. http://192.168.1.20:7480/register"
                )
            )));
        }
    }
    let node = crate::commands::open(ctx)?;
    let store = node.store();
    let failed = |e: node::self_registration::SelfRegistrationError| {
        Failure::problem(l.t(
            "không đọc hoặc ghi được trạng thái đăng ký trong cơ sở dữ liệu của nút",
            "the registration state could not be read or written in the node's database",
        ))
        .because(e)
    };
    let now = node::now_ms();
    let st = match c {
        RegistrationCommand::Open { url } => {
            let st = node::self_registration::set_state(store, true, url, now).map_err(failed)?;
            let _ = node::officers::audit(store, now, "-", "registration_open", "");
            st
        }
        RegistrationCommand::Close => {
            let old = node::self_registration::state(store).map_err(failed)?;
            let st =
                node::self_registration::set_state(store, false, old.url, now).map_err(failed)?;
            let _ = node::officers::audit(store, now, "-", "registration_close", "");
            st
        }
        RegistrationCommand::Status => node::self_registration::state(store).map_err(failed)?,
    };
    let count = node::self_registration::count(store).map_err(failed)?;
    if ctx.json {
        crate::outln!(
            "{}",
            json!({"open": st.open, "changed_ms": st.changed_ms, "url": st.url, "self_registered": count})
        );
        return Ok(0);
    }
    if st.open {
        crate::outln!(
            "{}",
            l.t(
                "Trang tự đăng ký sáng kiến đang MỞ: người lao động điền Mẫu 1 tại /register của giao diện web (trong mạng cơ quan); trang tổng quan hiện mã QR. Đóng bằng: sangkien node registration close",
                "The self-registration page is OPEN: workers fill in Mẫu 1 at /register of the web interface (on the office network); the dashboard shows its QR code. Close it with: sangkien node registration close"
            )
        );
        if let Some(u) = &st.url {
            crate::outln!("{}: {u}", l.t("Địa chỉ", "Address"));
        }
    } else {
        crate::outln!(
            "{}",
            l.t(
                "Trang tự đăng ký sáng kiến đang ĐÓNG. Mở bằng: sangkien node registration open",
                "The self-registration page is CLOSED. Open it with: sangkien node registration open"
            )
        );
    }
    crate::outln!(
        "{}: {count}",
        l.t(
            "Sáng kiến người lao động đã tự đăng ký tại nút này",
            "Initiatives self-registered by workers at this node"
        )
    );
    Ok(0)
}
