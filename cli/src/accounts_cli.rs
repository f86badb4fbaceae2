//! `sangkien officer add | remove | passwd | list`: the officer accounts of the node's web
//! interface (node::officers). Passwords are read from a file (`--password-file`, first line),
//! never from the command line, so they do not show in the process list or shell history; the
//! commands work through the running service like every other command.

use std::path::PathBuf;

use clap::Subcommand;
use node::officers::{self, AccountError, Role};
use serde_json::json;
use sync_protocol::limits::MAX_PASSWORD_CHARS;

use crate::{Ctx, Failure};

/// `sangkien officer ...`
#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Thêm tài khoản cán bộ cho giao diện web / add an officer account for the web interface.
    Add {
        /// Tên đăng nhập (a-z, 0-9, . - _) / login name.
        login: String,
        /// Họ tên (ký vào quyết định) / full name (signed into decisions).
        #[arg(long)]
        name: String,
        /// Chức vụ (ký vào quyết định) / title (signed into decisions).
        #[arg(long)]
        title: String,
        /// Vai trò, phân cách bằng dấu phẩy / roles, comma-separated: support, appraiser,
        /// leader, operator.
        #[arg(long)]
        role: String,
        /// Tệp chứa mật khẩu (dòng đầu) / file holding the password (first line).
        #[arg(long)]
        password_file: PathBuf,
    },
    /// Xóa tài khoản / remove an account.
    Remove {
        /// Tên đăng nhập / login name.
        login: String,
    },
    /// Đặt mật khẩu mới / set a new password.
    Passwd {
        /// Tên đăng nhập / login name.
        login: String,
        /// Tệp chứa mật khẩu (dòng đầu) / file holding the password (first line).
        #[arg(long)]
        password_file: PathBuf,
    },
    /// Liệt kê tài khoản / list accounts.
    List,
}

fn password(ctx: &Ctx, file: &PathBuf) -> Result<String, Failure> {
    let lang = ctx.lang;
    let unreadable = || {
        Failure::input(format!(
            "--password-file {}: {}",
            file.display(),
            lang.t(
                "không đọc được tệp mật khẩu",
                "the password file cannot be read"
            )
        ))
    };
    let meta = std::fs::metadata(file).map_err(|_| unreadable())?;
    if meta.len() > (MAX_PASSWORD_CHARS * 4 + 2) as u64 {
        return Err(unreadable());
    }
    let text = std::fs::read_to_string(file).map_err(|_| unreadable())?;
    Ok(text.lines().next().unwrap_or("").to_owned())
}

fn worded(ctx: &Ctx, e: AccountError) -> Failure {
    let msg = node::web::account_error(ctx.lang, &e);
    match e {
        AccountError::Store(_) => Failure::problem(msg),
        _ => Failure::input(msg),
    }
}

/// Runs an account command.
pub fn run(ctx: &Ctx, c: AccountsCommand) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let node = crate::commands::open(ctx)?;
    let store = node.store();
    match c {
        AccountsCommand::Add {
            login,
            name,
            title,
            role,
            password_file,
        } => {
            let mut roles = Vec::new();
            for r in role.split(',').filter(|r| !r.trim().is_empty()) {
                roles.push(Role::parse(r).ok_or_else(|| {
                    Failure::input(format!(
                        "--role {r:?}: {} support, appraiser, leader, operator",
                        lang.t("chọn trong", "choose from")
                    ))
                })?);
            }
            let pw = password(ctx, &password_file)?;
            let a = officers::add(store, &login, &name, &title, &roles, &pw, node::now_ms())
                .map_err(|e| worded(ctx, e))?;
            let _ = officers::audit(store, node::now_ms(), "-", "account_add", &login);
            crate::outln!(
                "{} {} — {}, {}",
                lang.t("Đã thêm tài khoản", "Added account"),
                a.login,
                a.name,
                a.title
            );
        }
        AccountsCommand::Remove { login } => {
            officers::remove(store, &login).map_err(|e| worded(ctx, e))?;
            let _ = officers::audit(store, node::now_ms(), "-", "account_remove", &login);
            crate::outln!("{} {login}", lang.t("Đã xóa tài khoản", "Removed account"));
        }
        AccountsCommand::Passwd {
            login,
            password_file,
        } => {
            let pw = password(ctx, &password_file)?;
            officers::set_password(store, &login, &pw).map_err(|e| worded(ctx, e))?;
            let _ = officers::audit(store, node::now_ms(), "-", "passwd", &login);
            crate::outln!(
                "{} {login}",
                lang.t("Đã đặt mật khẩu mới cho", "New password set for")
            );
        }
        AccountsCommand::List => {
            let all = officers::list(store).map_err(|e| worded(ctx, e))?;
            if ctx.json {
                let v: Vec<_> = all
                    .iter()
                    .map(|a| json!({"login": a.login, "name": a.name, "title": a.title, "roles": a.roles.iter().map(|r| r.code()).collect::<Vec<_>>()}))
                    .collect();
                crate::outln!("{}", serde_json::Value::Array(v));
            } else if all.is_empty() {
                crate::outln!(
                    "{}",
                    lang.t(
                        "Chưa có tài khoản nào. Thêm bằng `sangkien officer add`.",
                        "No account yet. Add one with `sangkien officer add`."
                    )
                );
            } else {
                for a in all {
                    let roles: Vec<&str> = a
                        .roles
                        .iter()
                        .map(|r| lang.t(r.names().0, r.names().1))
                        .collect();
                    crate::outln!("{}\t{}\t{}\t{}", a.login, a.name, a.title, roles.join(", "));
                }
            }
        }
    }
    Ok(0)
}
