//! Officer sessions (random tokens in HttpOnly SameSite=Strict cookies, idle and absolute
//! expiry), their CSRF tokens, and the failed-login limiter (per account and per address).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use rand_core::{OsRng, RngCore};
use sync_protocol::limits::{
    LOGIN_LOCKOUT_S, MAX_LOGIN_FAILURES_COUNT, MAX_LOGIN_TRACKED_COUNT, MAX_WEB_SESSIONS_COUNT,
    WEB_SESSION_MAX_S,
};

/// A fresh random token (32 bytes, hex).
pub fn token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// One officer's session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The account.
    pub login: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it began (Unix ms).
    pub created_ms: u64,
    /// Last request (Unix ms).
    pub seen_ms: u64,
}

/// The sessions of a node's web interface (in memory: a restart logs everyone out).
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle_ms: u64,
}

impl Sessions {
    /// Sessions that end after `idle_s` seconds without a request.
    pub fn new(idle_s: u64) -> Self {
        Self {
            map: Mutex::default(),
            idle_ms: idle_s * 1000,
        }
    }

    /// Starts a session; returns its token.
    pub fn start(&self, login: &str, now_ms: u64) -> (String, Session) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_WEB_SESSIONS_COUNT {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.seen_ms)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let t = token();
        let s = Session {
            login: login.into(),
            csrf: token(),
            created_ms: now_ms,
            seen_ms: now_ms,
        };
        map.insert(t.clone(), s.clone());
        (t, s)
    }

    /// The live session of `token`, touched; an expired one is removed.
    pub fn get(&self, token: &str, now_ms: u64) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.get_mut(token)?;
        let expired = now_ms.saturating_sub(s.seen_ms) > self.idle_ms
            || now_ms.saturating_sub(s.created_ms) > WEB_SESSION_MAX_S * 1000;
        if expired {
            map.remove(token);
            return None;
        }
        s.seen_ms = now_ms;
        Some(s.clone())
    }

    /// Ends a session.
    pub fn end(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// Ends every session of an account (removed, or its password changed).
    pub fn end_all_of(&self, login: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| s.login != login);
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Failures {
    count: u32,
    last_ms: u64,
    locked_until_ms: u64,
}

/// Failed logins, per account and per address: over [`MAX_LOGIN_FAILURES_COUNT`] (four times
/// that for an address) the account or address is locked out for [`LOGIN_LOCKOUT_S`].
#[derive(Default)]
pub struct Limiter {
    map: Mutex<HashMap<String, Failures>>,
}

/// Why a login is not even tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockedOut {
    /// Until when (Unix ms).
    pub until_ms: u64,
}

impl Limiter {
    fn keys(login: &str, ip: IpAddr) -> [(String, u32); 2] {
        [
            (format!("a:{login}"), MAX_LOGIN_FAILURES_COUNT),
            (format!("i:{ip}"), MAX_LOGIN_FAILURES_COUNT * 4),
        ]
    }

    /// Whether a login to `login` from `ip` may be tried now.
    pub fn check(&self, login: &str, ip: IpAddr, now_ms: u64) -> Result<(), LockedOut> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for (k, _) in Self::keys(login, ip) {
            if let Some(f) = map.get(&k) {
                if f.locked_until_ms > now_ms {
                    return Err(LockedOut {
                        until_ms: f.locked_until_ms,
                    });
                }
            }
        }
        Ok(())
    }

    /// Counts a failed login; returns whether it locked the account or address out.
    pub fn failed(&self, login: &str, ip: IpAddr, now_ms: u64) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_LOGIN_TRACKED_COUNT {
            let lockout_ms = LOGIN_LOCKOUT_S * 1000;
            map.retain(|_, f| now_ms.saturating_sub(f.last_ms) < lockout_ms);
            if map.len() >= MAX_LOGIN_TRACKED_COUNT {
                if let Some(k) = map
                    .iter()
                    .min_by_key(|(_, f)| f.last_ms)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&k);
                }
            }
        }
        let mut locked = false;
        for (k, max) in Self::keys(login, ip) {
            let f = map.entry(k).or_default();
            if now_ms.saturating_sub(f.last_ms) > LOGIN_LOCKOUT_S * 1000 {
                f.count = 0;
            }
            f.count += 1;
            f.last_ms = now_ms;
            if f.count >= max {
                f.locked_until_ms = now_ms + LOGIN_LOCKOUT_S * 1000;
                f.count = 0;
                locked = true;
            }
        }
        locked
    }

    /// A successful login clears the account's failures.
    pub fn succeeded(&self, login: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&format!("a:{login}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_locked_after_the_limit_and_free_after_the_lockout() {
        let l = Limiter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..MAX_LOGIN_FAILURES_COUNT - 1 {
            assert!(!l.failed("an", ip, 1000 + u64::from(i)));
            assert!(l.check("an", ip, 2000).is_ok());
        }
        assert!(l.failed("an", ip, 3000));
        assert!(l.check("an", ip, 3001).is_err());
        assert!(l.check("binh", ip, 3001).is_ok(), "another account");
        assert!(l.check("an", ip, 3000 + LOGIN_LOCKOUT_S * 1000 + 1).is_ok());
    }

    #[test]
    fn sessions_expire_when_idle() {
        let s = Sessions::new(60);
        let (t, _) = s.start("an", 0);
        assert!(s.get(&t, 59_000).is_some());
        assert!(s.get(&t, 59_000 + 60_001).is_none());
        assert!(s.get(&t, 0).is_none(), "removed");
    }
}
