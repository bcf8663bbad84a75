//! `serve.auth`: Baton as an OAuth 2.1 protected resource (MCP 2025-11-25 "Authorization").
//!
//! A request to `/mcp` or `/sse` carries `Authorization: Bearer <credential>` (or
//! `X-API-Key`): an API key of a named principal (kept as its SHA-256 and compared in
//! constant time), or a JWT checked against the configured issuer, audience (this server's
//! `/mcp` URL by default, RFC 8707), algorithms and the authorization server's keys (a JWKS
//! fetched and cached, fetched again when a token names an unknown key; or a file). Without
//! valid credentials: 401 with `WWW-Authenticate: Bearer resource_metadata=…`; a valid token
//! without any of `scopes_supported`: 403 `insufficient_scope`. The reason is logged, never
//! the credential. The principal goes into the request's extensions for the layers after.
//!
//! Protected Resource Metadata (RFC 9728) is served at
//! `/.well-known/oauth-protected-resource` and `…/mcp`.

mod sso;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use baton_core::config::{AuthConfig, JwksSource, JwtConfig, sha256_hex};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Value, json};

/// Who is calling, as authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The API key's principal, or the token's `sub`.
    pub name: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
}

/// Why a request was refused (logged; the client gets only the status and challenge).
#[derive(Debug)]
enum Refusal {
    Missing,
    Invalid(String),
    InsufficientScope(String),
}

/// A JWKS fetched again at most this often on unknown key ids (a flood of made-up key ids
/// cannot turn into a flood of fetches).
const REFETCH_AFTER: Duration = Duration::from_secs(1);

/// Checks credentials against `serve.auth`, and keeps each principal's call budget.
pub struct Authenticator {
    config: AuthConfig,
    /// Principal → (tokens left, when last refilled), for `limits.calls_per_minute`.
    buckets: std::sync::Mutex<HashMap<String, baton_resilience::TokenBucket>>,
    /// SHA-256 of each key → its principal.
    keys: Vec<([u8; 32], String)>,
    jwks: Option<Jwks>,
    /// Browsers signed in to the dashboard ([`super::browser`]).
    browser: super::browser::BrowserSessions,
    /// Dashboard sign-ins through the authorization server under way ([`sso`]).
    sign_ins: sso::SignIns,
}

/// The signing keys by `kid`, and when they were last loaded.
type KeySet = (HashMap<String, (Algorithm, DecodingKey)>, Option<Instant>);

/// Tokens already verified, at most this many (the least used leave first).
const VERIFIED_TOKENS: u64 = 10_000;

struct Jwks {
    config: JwtConfig,
    http: reqwest::Client,
    keys: tokio::sync::RwLock<KeySet>,
    /// SHA-256 of (audience, token) → the principal and the token's `exp` (Unix seconds):
    /// a token seen before costs a hash instead of a signature check. Emptied whenever the
    /// key set is loaded again, so a key that left the set takes its tokens with it.
    verified: moka::sync::Cache<[u8; 32], Arc<(Principal, u64)>>,
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Arc<Authenticator> {
        let keys = config
            .api_keys
            .iter()
            .filter_map(|(principal, hex)| Some((decode_hex(hex)?, principal.clone())))
            .collect();
        let jwks = config.jwt.clone().map(|config| Jwks {
            config,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            keys: tokio::sync::RwLock::new((HashMap::new(), None)),
            verified: moka::sync::Cache::new(VERIFIED_TOKENS),
        });
        Arc::new(Authenticator {
            config: config.clone(),
            buckets: std::sync::Mutex::new(HashMap::new()),
            keys,
            jwks,
            browser: Default::default(),
            sign_ins: Default::default(),
        })
    }

    async fn check(&self, headers: &HeaderMap, resource: &str) -> Result<Principal, Refusal> {
        let credential = bearer(headers).ok_or(Refusal::Missing)?;
        if let Some(principal) = self.api_key(&credential) {
            return Ok(principal);
        }
        let Some(jwks) = &self.jwks else {
            return Err(Refusal::Invalid("an unknown API key".to_owned()));
        };
        if credential.split('.').count() != 3 {
            return Err(Refusal::Invalid("an unknown API key".to_owned()));
        }
        let principal = jwks.verify(&credential, resource).await?;
        let wanted = &self.config.scopes_supported;
        if !wanted.is_empty() && !principal.scopes.iter().any(|s| wanted.contains(s)) {
            return Err(Refusal::InsufficientScope(principal.name));
        }
        Ok(principal)
    }

    /// Takes one tool call from `principal`'s budget; `Err(wait)` when it is spent (a token
    /// bucket holding a minute's calls, refilled continuously).
    pub fn admit_call(&self, principal: &str) -> Result<(), Duration> {
        let Some(per_minute) = self.config.calls_per_minute else {
            return Ok(());
        };
        let capacity = f64::from(per_minute);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        buckets
            .entry(principal.to_owned())
            .or_insert_with(|| baton_resilience::TokenBucket::new(capacity, capacity / 60.0, now))
            .take(now)
    }

    fn api_key(&self, credential: &str) -> Option<Principal> {
        let hash = decode_hex(&sha256_hex(credential.as_bytes()))?;
        let mut found = None;
        // Every key is compared, each in constant time.
        for (key, principal) in &self.keys {
            let differs = key
                .iter()
                .zip(hash.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if differs == 0 {
                found = Some(principal.clone());
            }
        }
        found.map(|name| Principal {
            name,
            roles: Vec::new(),
            scopes: Vec::new(),
        })
    }

    fn challenge(&self, resource_metadata: &str, error: Option<&str>) -> HeaderValue {
        let mut value = format!("Bearer resource_metadata=\"{resource_metadata}\"");
        if !self.config.scopes_supported.is_empty() {
            value.push_str(&format!(
                ", scope=\"{}\"",
                self.config.scopes_supported.join(" ")
            ));
        }
        if let Some(error) = error {
            value.push_str(&format!(", error=\"{error}\""));
        }
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// The Protected Resource Metadata document for `resource`.
    fn metadata(&self, resource: &str) -> Value {
        json!({
            "resource": self.config.jwt.as_ref().and_then(|jwt| jwt.audience.clone()).unwrap_or_else(|| resource.to_owned()),
            "authorization_servers": self.config.authorization_servers,
            "scopes_supported": self.config.scopes_supported,
            "bearer_methods_supported": ["header"],
            "resource_name": "Baton",
        })
    }
}

impl Jwks {
    async fn verify(&self, token: &str, resource: &str) -> Result<Principal, Refusal> {
        let audience = self.config.audience.as_deref().unwrap_or(resource);
        let digest = cache_key(audience, token);
        if let Some(hit) = self.verified.get(&digest) {
            if unix_now() < hit.1.saturating_add(self.config.leeway.as_secs()) {
                return Ok(hit.0.clone());
            }
            self.verified.invalidate(&digest);
        }
        let (principal, expires) = self.verify_signed(token, audience).await?;
        self.verified
            .insert(digest, Arc::new((principal.clone(), expires)));
        Ok(principal)
    }

    /// Checks `token`'s signature and claims; the principal and the token's `exp`.
    async fn verify_signed(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<(Principal, u64), Refusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| Refusal::Invalid(format!("an unreadable token header ({error})")))?;
        let algorithm = format!("{:?}", header.alg);
        if !self.config.algorithms.contains(&algorithm) {
            return Err(Refusal::Invalid(format!(
                "a token signed with {algorithm}, which serve.auth.jwt.algorithms does not accept"
            )));
        }
        let kid = header.kid.unwrap_or_default();
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                self.refresh(true).await;
                self.key(&kid).await.ok_or_else(|| {
                    Refusal::Invalid(format!("a token signed by an unknown key (kid \"{kid}\")"))
                })?
            }
        };
        if key.0 != header.alg {
            return Err(Refusal::Invalid(format!(
                "a token whose algorithm {algorithm} is not its key's"
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Value>(token, &key.1, &validation).map_err(|error| {
            Refusal::Invalid(format!("a token that failed validation: {error}"))
        })?;
        let claims = data.claims;
        let strings = |value: Option<&Value>| -> Vec<String> {
            match value {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect(),
                Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
                _ => Vec::new(),
            }
        };
        let mut scopes = strings(claims.get("scope"));
        scopes.extend(strings(claims.get("scp")));
        let expires = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let principal = Principal {
            name: claims
                .get("sub")
                .and_then(Value::as_str)
                .or_else(|| claims.get("client_id").and_then(Value::as_str))
                .unwrap_or("unknown")
                .to_owned(),
            roles: strings(claims.get(&self.config.roles_claim)),
            scopes,
        };
        Ok((principal, expires))
    }

    async fn key(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        if self.keys.read().await.1.is_none() {
            self.refresh(false).await;
        }
        self.keys.read().await.0.get(kid).cloned()
    }

    /// Loads the key set (again); `unknown_kid`: only if the last load is old enough.
    async fn refresh(&self, unknown_kid: bool) {
        let mut keys = self.keys.write().await;
        if unknown_kid && keys.1.is_some_and(|at| at.elapsed() < REFETCH_AFTER) {
            return;
        }
        let text = match &self.config.jwks {
            JwksSource::Url(url) => match self.http.get(url).send().await {
                Ok(response) if response.status().is_success() => response.text().await.ok(),
                Ok(response) => {
                    tracing::warn!(url, status = %response.status(), "could not fetch the JWKS");
                    None
                }
                Err(error) => {
                    tracing::warn!(url, %error, "could not fetch the JWKS");
                    None
                }
            },
            JwksSource::File(path) => std::fs::read_to_string(path)
                .inspect_err(|error| {
                    tracing::warn!(path = %path.display(), %error, "could not read the JWKS file")
                })
                .ok(),
        };
        keys.1 = Some(Instant::now());
        self.verified.invalidate_all();
        let Some(set) = text.and_then(|text| serde_json::from_str::<JwkSet>(&text).ok()) else {
            return;
        };
        keys.0 = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone().unwrap_or_default();
                let key = DecodingKey::from_jwk(jwk).ok()?;
                let algorithm = jwk
                    .common
                    .key_algorithm
                    .and_then(|a| a.to_string().parse::<Algorithm>().ok())
                    .unwrap_or(match &jwk.algorithm {
                        jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => {
                            Algorithm::ES256
                        }
                        jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                        _ => Algorithm::RS256,
                    });
                Some((kid, (algorithm, key)))
            })
            .collect();
    }
}

/// The credential of `Authorization: Bearer …` or `X-API-Key`.
fn bearer(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION)
        && let Ok(text) = value.to_str()
        && let Some((scheme, credential)) = text.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Some(credential.trim().to_owned());
    }
    headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .map(|text| text.trim().to_owned())
}

/// The verified-token cache's key: SHA-256 of the audience and the token.
fn cache_key(audience: &str, token: &str) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(audience.as_bytes());
    hasher.update([0]);
    hasher.update(token.as_bytes());
    hasher.finalize().into()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `http://HOST` of the request (as the client addressed Baton).
fn origin_of(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Refuses a request to `/mcp`, `/sse` or the dashboard's API without valid credentials (a
/// bearer credential, or a browser session's cookie plus its CSRF token for a change);
/// otherwise puts the principal (and the authenticator, for the call budget) in its
/// extensions.
pub async fn require(auth: Arc<Authenticator>, mut request: Request, next: Next) -> Response {
    match admit(auth, &mut request).await {
        Ok(()) => next.run(request).await,
        Err(refused) => refused,
    }
}

/// [`require`]'s check: the refusal to answer, or the principal (and authenticator) put in
/// `request`'s extensions.
pub(super) async fn admit(auth: Arc<Authenticator>, request: &mut Request) -> Result<(), Response> {
    let origin = origin_of(request.headers());
    let resource = format!("{origin}/mcp");
    let metadata = format!("{origin}/.well-known/oauth-protected-resource/mcp");
    let checked = match bearer(request.headers()) {
        None => match auth.browser.find(request.headers()) {
            Some((principal, session)) => {
                if !super::browser::csrf_ok(request.method(), request.headers(), &session) {
                    tracing::warn!(path = %request.uri().path(), principal = %principal.name, "refused a change without the session's CSRF token");
                    let body = json!({ "error": "csrf", "error_description": "a change made with the session cookie needs the X-CSRF-Token header (the baton_csrf cookie's value)" });
                    return Err((StatusCode::FORBIDDEN, Json(body)).into_response());
                }
                request.extensions_mut().insert(session);
                Ok(principal)
            }
            None => Err(Refusal::Missing),
        },
        Some(_) => auth.check(request.headers(), &resource).await,
    };
    match checked {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            request.extensions_mut().insert(auth);
            Ok(())
        }
        Err(refusal) => {
            let (status, error, reason) = refusal_parts(refusal);
            tracing::warn!(path = %request.uri().path(), %reason, "refused a request");
            crate::metrics::auth_refused(error.unwrap_or("missing"));
            let body =
                json!({ "error": error.unwrap_or("unauthorized"), "error_description": reason });
            let mut response = (status, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, auth.challenge(&metadata, error));
            Err(response)
        }
    }
}

fn refusal_parts(refusal: Refusal) -> (StatusCode, Option<&'static str>, String) {
    match refusal {
        Refusal::Missing => (StatusCode::UNAUTHORIZED, None, "no credentials".to_owned()),
        Refusal::Invalid(reason) => (StatusCode::UNAUTHORIZED, Some("invalid_token"), reason),
        Refusal::InsufficientScope(who) => (
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            format!("{who}'s token has none of serve.auth.scopes_supported"),
        ),
    }
}

/// `POST /api/session` (`{"credential": "<API key or token>"}`) signs a browser in:
/// the credential is checked as a bearer one, and the answer sets the session and CSRF
/// cookies. `DELETE /api/session` signs out. `GET /api/session` says who is signed in.
pub fn session_routes(auth: Arc<Authenticator>) -> Router {
    let sign_in = auth.clone();
    let sign_out = auth.clone();
    let (start, back) = (auth.clone(), auth.clone());
    Router::new()
        .route(
            "/api/session/oauth",
            get(
                move |headers: HeaderMap, query: axum::extract::Query<sso::Start>| {
                    let auth = start.clone();
                    async move { sso::start(&auth, &headers, query.0).await }
                },
            ),
        )
        .route(
            "/api/session/oauth/callback",
            get(
                move |headers: HeaderMap, query: axum::extract::Query<sso::Callback>| {
                    let auth = back.clone();
                    async move { sso::callback(&auth, &headers, query.0).await }
                },
            ),
        )
        .route(
            "/api/session",
            get(move |headers: HeaderMap| {
                let auth = auth.clone();
                async move {
                    // Whether the login page offers "sign in with the authorization server".
                    let oauth = !auth.config.authorization_servers.is_empty();
                    match auth.browser.find(&headers) {
                        Some((who, _)) => {
                            Json(json!({ "auth": true, "principal": who.name, "oauth": oauth }))
                                .into_response()
                        }
                        None => (
                            StatusCode::UNAUTHORIZED,
                            Json(json!({ "auth": true, "principal": null, "oauth": oauth })),
                        )
                            .into_response(),
                    }
                }
            })
            .post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let auth = sign_in.clone();
                async move { open_session(&auth, &headers, &body).await }
            })
            .delete(move |headers: HeaderMap| {
                let auth = sign_out.clone();
                async move {
                    auth.browser.close(&headers);
                    let mut response = Json(json!({ "signed_out": true })).into_response();
                    append_cookies(&mut response, super::browser::clear_cookies());
                    response
                }
            }),
        )
}

async fn open_session(auth: &Authenticator, headers: &HeaderMap, body: &[u8]) -> Response {
    let credential = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("credential")?.as_str().map(str::to_owned))
        .filter(|credential| !credential.trim().is_empty());
    let Some(credential) = credential else {
        let body = json!({ "error": "invalid_request", "error_description": "send {\"credential\": \"<an API key or token>\"}" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    let mut as_bearer = headers.clone();
    let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", credential.trim())) else {
        let body = json!({ "error": "invalid_token", "error_description": "the credential holds characters a key never has" });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    };
    as_bearer.insert(header::AUTHORIZATION, value);
    let resource = format!("{}/mcp", origin_of(headers));
    match auth.check(&as_bearer, &resource).await {
        Ok(principal) => {
            let name = principal.name.clone();
            tracing::info!(principal = %name, "a browser signed in");
            let (csrf, cookies) = open_browser_session(auth, principal, headers);
            let mut response = Json(json!({ "principal": name, "csrf": csrf })).into_response();
            append_cookies(&mut response, cookies);
            response
        }
        Err(refusal) => {
            let (status, error, reason) = refusal_parts(refusal);
            tracing::warn!(%reason, "refused a browser sign-in");
            crate::metrics::auth_refused(error.unwrap_or("missing"));
            let body = json!({ "error": error.unwrap_or("unauthorized"), "error_description": "that key or token is not accepted" });
            (status, Json(body)).into_response()
        }
    }
}

/// Opens a browser session for `principal`: its CSRF token and the cookies to set.
fn open_browser_session(
    auth: &Authenticator,
    principal: Principal,
    headers: &HeaderMap,
) -> (String, [String; 2]) {
    let opened = auth.browser.open(principal);
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes() == b"https");
    let cookies = super::browser::set_cookies(&opened, secure);
    (opened.csrf, cookies)
}

fn append_cookies(response: &mut Response, cookies: impl IntoIterator<Item = String>) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// The Protected Resource Metadata routes (public).
pub fn metadata_routes(auth: Arc<Authenticator>) -> Router {
    let document = move |headers: HeaderMap| {
        let auth = auth.clone();
        async move { Json(auth.metadata(&format!("{}/mcp", origin_of(&headers)))) }
    };
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(document.clone()),
        )
        .route("/.well-known/oauth-protected-resource/mcp", get(document))
}
