//! Officer accounts of the web interface, and the log of what each account did.
//!
//! Two sled trees of their own (no schema change: nothing is derived from them, and a node
//! without them simply has no accounts yet):
//!
//! | tree           | key                          | value                          |
//! |----------------|------------------------------|--------------------------------|
//! | `web_officers` | login                        | JSON [`Account`] (hash inside) |
//! | `web_audit`    | time ms (8, BE) ‖ counter (8) | JSON [`AuditLine`]             |
//!
//! Passwords are hashed with Argon2id (19 MiB, 2 passes, 1 lane: the OWASP minimum), a
//! random 16-byte salt each. Accounts are the node's own: they never travel by sync or bundle
//! and are not in backups of entries.

use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sync_protocol::limits::{
    MAX_LOGIN_BYTES, MAX_OFFICER_ACCOUNTS_COUNT, MAX_PASSWORD_CHARS, MAX_SHORT_TEXT_CHARS,
    MIN_PASSWORD_CHARS,
};
use sync_protocol::text::Text;

use crate::SledStore;

const OFFICERS: &str = "web_officers";
const AUDIT: &str = "web_audit";
/// Audit lines kept; older ones go first.
pub const MAX_AUDIT_LINES: usize = 100_000;

/// What an officer may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Tổ hỗ trợ: registers and edits initiatives, submits them.
    Support,
    /// Thẩm định: decides (returns, rejects, approves, recognises).
    Appraiser,
    /// Lãnh đạo: targets, Mẫu 2, recognition and awards.
    Leader,
    /// Vận hành: accounts, peers, sync, quarantine.
    Operator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Support, Role::Appraiser, Role::Leader, Role::Operator];
    /// Its stable code.
    pub fn code(self) -> &'static str {
        match self {
            Role::Support => "support",
            Role::Appraiser => "appraiser",
            Role::Leader => "leader",
            Role::Operator => "operator",
        }
    }
    /// From its code.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s.trim())
    }
    /// Its name: Vietnamese, English.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Role::Support => ("Tổ hỗ trợ", "Support team"),
            Role::Appraiser => ("Thẩm định", "Appraiser"),
            Role::Leader => ("Lãnh đạo", "Leader"),
            Role::Operator => ("Vận hành", "Operator"),
        }
    }
}

/// One officer account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Login name.
    pub login: String,
    /// Full name, signed into decisions.
    pub name: String,
    /// Title (chức vụ), signed into decisions.
    pub title: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Salt (hex) of the password hash.
    salt: String,
    /// Argon2id hash (hex).
    hash: String,
    /// When it was made (Unix ms).
    pub created_ms: u64,
}

impl Account {
    /// Whether it has `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// One line of the log of what accounts did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLine {
    /// When (Unix ms).
    pub time_ms: u64,
    /// Which account (or "-" for none).
    pub login: String,
    /// What: `login`, `login_failed`, `logout`, `register`, `decide`, `account_add`, ...
    pub action: String,
    /// On what (a record id, an account), and how.
    pub detail: String,
}

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A login name that is not a-z, 0-9, '.', '-', '_' or is too long.
    #[error("login {0:?} must be 1 to {MAX_LOGIN_BYTES} characters a-z, 0-9, '.', '-', '_'")]
    BadLogin(String),
    /// A name or title that is not a valid one-line text.
    #[error("{field}: {reason}")]
    BadText {
        /// which
        field: &'static str,
        /// why
        reason: String,
    },
    /// A password too short or too long.
    #[error("a password of {actual} characters; it must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS}")]
    BadPassword {
        /// its length
        actual: usize,
    },
    /// No role given.
    #[error("an account needs at least one role")]
    NoRole,
    /// The login is taken.
    #[error("account {0} exists already")]
    Exists(String),
    /// No such account.
    #[error("no account {0}")]
    Unknown(String),
    /// Too many accounts.
    #[error("{MAX_OFFICER_ACCOUNTS_COUNT} accounts already; remove one first")]
    TooMany,
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}

fn store_err(e: impl std::fmt::Display) -> AccountError {
    AccountError::Store(e.to_string())
}

fn tree(store: &SledStore, name: &str) -> Result<sled::Tree, AccountError> {
    store.db().open_tree(name).map_err(store_err)
}

/// Checks a login name.
pub fn check_login(login: &str) -> Result<(), AccountError> {
    let ok = !login.is_empty()
        && login.len() <= MAX_LOGIN_BYTES
        && login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadLogin(login.chars().take(80).collect()))
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(AccountError::BadPassword { actual: n });
    }
    Ok(())
}

fn one_line(field: &'static str, s: &str) -> Result<String, AccountError> {
    Text::required(field, s, MAX_SHORT_TEXT_CHARS)
        .map(|t| t.as_str().to_owned())
        .map_err(|e| AccountError::BadText {
            field,
            reason: e.to_string(),
        })
}

fn argon() -> Argon2<'static> {
    // Within argon2's bounds: constants.
    let params = Params::new(19 * 1024, 2, 1, Some(32)).expect("argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_password(password: &str, salt: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    argon()
        .hash_password_into(password.as_bytes(), salt, &mut out)
        .expect("argon2 with a 16-byte salt and a 32-byte output");
    out
}

fn get(t: &sled::Tree, login: &str) -> Result<Option<Account>, AccountError> {
    match t.get(login.as_bytes()).map_err(store_err)? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v).map(Some).map_err(store_err),
    }
}

fn put(store: &SledStore, t: &sled::Tree, a: &Account) -> Result<(), AccountError> {
    let v = serde_json::to_vec(a).map_err(store_err)?;
    t.insert(a.login.as_bytes(), v).map_err(store_err)?;
    store.db().flush().map_err(store_err)?;
    Ok(())
}

/// Adds an account.
pub fn add(
    store: &SledStore,
    login: &str,
    name: &str,
    title: &str,
    roles: &[Role],
    password: &str,
    now_ms: u64,
) -> Result<Account, AccountError> {
    check_login(login)?;
    let name = one_line("name", name)?;
    let title = one_line("title", title)?;
    if roles.is_empty() {
        return Err(AccountError::NoRole);
    }
    check_password(password)?;
    let t = tree(store, OFFICERS)?;
    if get(&t, login)?.is_some() {
        return Err(AccountError::Exists(login.into()));
    }
    if t.len() >= MAX_OFFICER_ACCOUNTS_COUNT {
        return Err(AccountError::TooMany);
    }
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    let a = Account {
        login: login.into(),
        name,
        title,
        roles,
        salt: hex::encode(salt),
        hash: hex::encode(hash_password(password, &salt)),
        created_ms: now_ms,
    };
    put(store, &t, &a)?;
    Ok(a)
}

/// Removes an account.
pub fn remove(store: &SledStore, login: &str) -> Result<(), AccountError> {
    let t = tree(store, OFFICERS)?;
    if t.remove(login.as_bytes()).map_err(store_err)?.is_none() {
        return Err(AccountError::Unknown(login.into()));
    }
    store.db().flush().map_err(store_err)?;
    Ok(())
}

/// Sets an account's password.
pub fn set_password(store: &SledStore, login: &str, password: &str) -> Result<(), AccountError> {
    check_password(password)?;
    let t = tree(store, OFFICERS)?;
    let mut a = get(&t, login)?.ok_or_else(|| AccountError::Unknown(login.into()))?;
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    a.salt = hex::encode(salt);
    a.hash = hex::encode(hash_password(password, &salt));
    put(store, &t, &a)
}

/// Every account, by login.
pub fn list(store: &SledStore) -> Result<Vec<Account>, AccountError> {
    let t = tree(store, OFFICERS)?;
    let mut out = Vec::new();
    for kv in t.iter() {
        let (_, v) = kv.map_err(store_err)?;
        out.push(serde_json::from_slice(&v).map_err(store_err)?);
    }
    Ok(out)
}

/// One account.
pub fn find(store: &SledStore, login: &str) -> Result<Option<Account>, AccountError> {
    get(&tree(store, OFFICERS)?, login)
}

/// The account, if `password` is its password. The hash is computed even for an unknown login,
/// so that the time taken does not tell which logins exist.
pub fn authenticate(
    store: &SledStore,
    login: &str,
    password: &str,
) -> Result<Option<Account>, AccountError> {
    let password: String = password.chars().take(MAX_PASSWORD_CHARS).collect();
    let found = if check_login(login).is_ok() {
        get(&tree(store, OFFICERS)?, login)?
    } else {
        None
    };
    let (salt, expected) = match &found {
        Some(a) => (
            hex::decode(&a.salt).map_err(store_err)?,
            hex::decode(&a.hash).map_err(store_err)?,
        ),
        None => (vec![0u8; 16], vec![1u8; 32]),
    };
    let got = hash_password(&password, &salt);
    let same = got.len() == expected.len()
        && got
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    Ok(found.filter(|_| same))
}

/// Appends a line to the log of what accounts did (the oldest lines go past
/// [`MAX_AUDIT_LINES`]).
pub fn audit(
    store: &SledStore,
    now_ms: u64,
    login: &str,
    action: &str,
    detail: &str,
) -> Result<(), AccountError> {
    let t = tree(store, AUDIT)?;
    let seq = store.db().generate_id().map_err(store_err)?;
    let trim = seq % 1024 == 0;
    let mut k = now_ms.to_be_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    let line = AuditLine {
        time_ms: now_ms,
        login: login.into(),
        action: action.into(),
        detail: detail.into(),
    };
    t.insert(k, serde_json::to_vec(&line).map_err(store_err)?)
        .map_err(store_err)?;
    while trim && t.len() > MAX_AUDIT_LINES {
        if t.pop_min().map_err(store_err)?.is_none() {
            break;
        }
    }
    tracing::info!(login, action, detail, "officer action");
    Ok(())
}

/// The most recent audit lines, newest first.
pub fn recent_audit(store: &SledStore, limit: usize) -> Result<Vec<AuditLine>, AccountError> {
    let t = tree(store, AUDIT)?;
    let mut out = Vec::new();
    for kv in t.iter().rev().take(limit) {
        let (_, v) = kv.map_err(store_err)?;
        out.push(serde_json::from_slice(&v).map_err(store_err)?);
    }
    Ok(out)
}
