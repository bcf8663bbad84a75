//! Signing in from a browser (the dashboard): a person pastes an API key (or a token) once
//! at `/ui/login`; `POST /api/session` checks it like a bearer credential and answers with
//! two cookies — `baton_session` (HttpOnly, the session) and `baton_csrf` (readable by the
//! page's script). A request authenticated by the session cookie that changes something
//! (any method but GET/HEAD/OPTIONS) must echo the CSRF token in `X-CSRF-Token`, so another
//! site cannot make the browser act with the cookie. Sessions live in memory for
//! [`LIFETIME`]; `DELETE /api/session` signs out. The session id is kept only as its
//! SHA-256.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

use super::auth::Principal;

/// How long a browser session lasts after signing in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "baton_session";
/// The CSRF cookie's name (the page's script reads it and sends it back as a header).
pub const CSRF_COOKIE: &str = "baton_csrf";
/// The header a cookie-authenticated request that changes something must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// At most this many sessions at once (the oldest expire first when full).
const MAX_SESSIONS: usize = 10_000;

/// A request authenticated by a browser session (in the request's extensions).
#[derive(Debug, Clone)]
pub struct CookieSession {
    pub csrf: String,
}

struct Entry {
    principal: Principal,
    csrf: String,
    expires: Instant,
}

/// The signed-in browser sessions.
#[derive(Default)]
pub struct BrowserSessions {
    by_hash: Mutex<HashMap<[u8; 32], Entry>>,
}

/// A new session: the cookie values to send.
#[derive(Debug)]
pub struct Opened {
    pub id: String,
    pub csrf: String,
}

impl BrowserSessions {
    /// Opens a session for `principal`.
    pub fn open(&self, principal: Principal) -> Opened {
        let id = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let csrf = uuid::Uuid::new_v4().simple().to_string();
        let now = Instant::now();
        let mut sessions = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, entry| entry.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, entry)| entry.expires)
                .map(|(key, _)| *key)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            digest(&id),
            Entry {
                principal,
                csrf: csrf.clone(),
                expires: now + LIFETIME,
            },
        );
        Opened { id, csrf }
    }

    /// The principal and CSRF token of the session named by `headers`' cookie.
    pub fn find(&self, headers: &HeaderMap) -> Option<(Principal, CookieSession)> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let sessions = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        let entry = sessions.get(&digest(id))?;
        (entry.expires > Instant::now()).then(|| {
            (
                entry.principal.clone(),
                CookieSession {
                    csrf: entry.csrf.clone(),
                },
            )
        })
    }

    /// Ends the session named by `headers`' cookie (if any).
    pub fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            self.by_hash
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&digest(id));
        }
    }
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether a cookie-authenticated request may go on: reads always; anything else only with
/// the session's CSRF token in [`CSRF_HEADER`].
pub fn csrf_ok(method: &axum::http::Method, headers: &HeaderMap, session: &CookieSession) -> bool {
    use axum::http::Method;
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|sent| constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Set-Cookie` values for a new session (`SameSite=Strict`; `Secure` when the page
/// was reached over HTTPS).
pub fn set_cookies(opened: &Opened, secure: bool) -> [String; 2] {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = LIFETIME.as_secs();
    [
        format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
            opened.id
        ),
        format!(
            "{CSRF_COOKIE}={}; Path=/; SameSite=Strict; Max-Age={max_age}{secure}",
            opened.csrf
        ),
    ]
}

/// The `Set-Cookie` values that sign out.
pub fn clear_cookies() -> [String; 2] {
    [
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        format!("{CSRF_COOKIE}=; Path=/; SameSite=Strict; Max-Age=0"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            name: "alice".into(),
            roles: vec![],
            scopes: vec![],
        }
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_closed() {
        let sessions = BrowserSessions::default();
        let opened = sessions.open(principal());
        let headers = with_cookie(&format!("other=1; {SESSION_COOKIE}={}", opened.id));
        let (who, session) = sessions.find(&headers).expect("the session");
        assert_eq!(who.name, "alice");
        assert_eq!(session.csrf, opened.csrf);
        assert!(
            sessions
                .find(&with_cookie("baton_session=made-up"))
                .is_none()
        );
        sessions.close(&headers);
        assert!(sessions.find(&headers).is_none());
    }

    #[test]
    fn changes_need_the_csrf_token_and_reads_do_not() {
        let session = CookieSession { csrf: "abc".into() };
        let mut headers = HeaderMap::new();
        assert!(csrf_ok(&axum::http::Method::GET, &headers, &session));
        assert!(!csrf_ok(&axum::http::Method::POST, &headers, &session));
        headers.insert(CSRF_HEADER, "abd".parse().unwrap());
        assert!(!csrf_ok(&axum::http::Method::POST, &headers, &session));
        headers.insert(CSRF_HEADER, "abc".parse().unwrap());
        assert!(csrf_ok(&axum::http::Method::POST, &headers, &session));
    }
}
