//! The dashboard's sign-in through the authorization server (`serve.auth.
//! authorization_servers`): the browser goes to `/api/session/oauth`, Baton sends it to the
//! authorization server (authorization code with PKCE, `resource` = this Baton's `/mcp`,
//! the scopes of `scopes_supported`), the server sends it back to
//! `/api/session/oauth/callback`, Baton exchanges the code, checks the access token exactly
//! as it checks any bearer token (issuer, audience, signature, scopes), and opens a cookie
//! session for its principal. Baton registers itself once per address with Dynamic Client
//! Registration (the client id is kept for later sign-ins).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use rmcp::transport::auth::{
    AuthorizationManager, AuthorizationMetadata, AuthorizationRequest, AuthorizationSession,
};
use serde::Deserialize;
use serde_json::json;

use super::{Authenticator, origin_of};

/// How long a started sign-in waits for the authorization server's answer.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Sign-ins waiting at once at most (the oldest give way).
const MAX_PENDING: usize = 1000;

/// Sign-ins under way, and the client id Baton registered per address.
#[derive(Default)]
pub(super) struct SignIns {
    pending: Mutex<HashMap<String, Pending>>,
    clients: Mutex<HashMap<String, String>>,
}

struct Pending {
    session: AuthorizationSession,
    resource: String,
    next: String,
    started: Instant,
}

#[derive(Debug, Deserialize)]
pub(super) struct Start {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn refused(status: StatusCode, error: &str, description: String) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// `GET /api/session/oauth?next=/ui/…`: sends the browser to the authorization server.
pub(super) async fn start(auth: &Authenticator, headers: &HeaderMap, start: Start) -> Response {
    let Some(server) = auth.config.authorization_servers.first() else {
        return refused(
            StatusCode::NOT_FOUND,
            "not_configured",
            "no authorization server: set serve.auth.authorization_servers".into(),
        );
    };
    let origin = origin_of(headers);
    let resource = format!("{origin}/mcp");
    let redirect = format!("{origin}/api/session/oauth/callback");
    let session = match authorize(auth, server, &origin, &resource, &redirect).await {
        Ok(session) => session,
        Err(reason) => {
            tracing::warn!(authorization_server = %server, %reason, "could not start a dashboard sign-in");
            return refused(StatusCode::BAD_GATEWAY, "server_error", reason);
        }
    };
    let url = session.get_authorization_url().to_owned();
    let Some(state) = query_value(&url, "state") else {
        return refused(
            StatusCode::BAD_GATEWAY,
            "server_error",
            "the authorization URL has no state".into(),
        );
    };
    let next = start
        .next
        .filter(|next| next.starts_with("/ui"))
        .unwrap_or_else(|| "/ui".to_owned());
    let mut pending = auth
        .sign_ins
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    pending.retain(|_, p| p.started.elapsed() < PENDING_FOR);
    if pending.len() >= MAX_PENDING
        && let Some(oldest) = pending
            .iter()
            .min_by_key(|(_, p)| p.started)
            .map(|(state, _)| state.clone())
    {
        pending.remove(&oldest);
    }
    pending.insert(
        state,
        Pending {
            session,
            resource,
            next,
            started: Instant::now(),
        },
    );
    Redirect::to(&url).into_response()
}

/// The authorization server's metadata, a client (registered once per address), and the
/// authorization URL.
async fn authorize(
    auth: &Authenticator,
    server: &str,
    origin: &str,
    resource: &str,
    redirect: &str,
) -> Result<AuthorizationSession, String> {
    let metadata = metadata(server).await?;
    let mut manager = AuthorizationManager::new_allowing_private_addresses(resource)
        .await
        .map_err(|error| error.to_string())?;
    manager.set_metadata(metadata);
    let mut request = AuthorizationRequest::new(redirect).with_client_name("Baton dashboard");
    if origin.starts_with("https://") {
        request = request.with_application_type("web");
    }
    if !auth.config.scopes_supported.is_empty() {
        request = request.with_scopes(auth.config.scopes_supported.iter().cloned());
    }
    let known = auth
        .sign_ins
        .clients
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(origin)
        .cloned();
    if let Some(client_id) = known {
        request = request.with_preregistered_client(client_id);
    }
    let session = AuthorizationSession::new(manager, request)
        .await
        .map_err(|(_, error)| error.to_string())?;
    if let Ok((client_id, _)) = session.get_credentials().await {
        auth.sign_ins
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(origin.to_owned(), client_id);
    }
    Ok(session)
}

/// The authorization server's metadata (RFC 8414, else OpenID discovery).
async fn metadata(server: &str) -> Result<AuthorizationMetadata, String> {
    let http = reqwest::Client::new();
    let base = server.trim_end_matches('/');
    let mut problems = Vec::new();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let url = format!("{base}{path}");
        match http.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                return response
                    .json::<AuthorizationMetadata>()
                    .await
                    .map_err(|error| format!("{url}: {error}"));
            }
            Ok(response) => problems.push(format!("{url}: {}", response.status())),
            Err(error) => problems.push(format!("{url}: {error}")),
        }
    }
    Err(format!(
        "no authorization server metadata: {}",
        problems.join("; ")
    ))
}

/// `GET /api/session/oauth/callback?code&state`: the code exchanged, the token checked, a
/// cookie session opened, and the browser sent on to the page it came from.
pub(super) async fn callback(
    auth: &Authenticator,
    headers: &HeaderMap,
    answer: Callback,
) -> Response {
    if let Some(error) = answer.error {
        let description = answer.error_description.unwrap_or_default();
        tracing::warn!(%error, %description, "the authorization server refused a dashboard sign-in");
        return refused(
            StatusCode::UNAUTHORIZED,
            "access_denied",
            format!("the authorization server refused: {error} {description}"),
        );
    }
    let (Some(code), Some(state)) = (answer.code, answer.state) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the callback needs code and state".into(),
        );
    };
    let pending = auth
        .sign_ins
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&state)
        .filter(|p| p.started.elapsed() < PENDING_FOR);
    let Some(pending) = pending else {
        return refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "no sign-in is waiting for this answer (it expired, or was used): start again at /ui/login".into(),
        );
    };
    let exchanged = pending
        .session
        .handle_callback_with_issuer(&code, &state, answer.iss.as_deref())
        .await;
    if let Err(error) = exchanged {
        tracing::warn!(%error, "a dashboard sign-in's code exchange failed");
        return refused(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "the authorization server did not give a token for that answer".into(),
        );
    }
    let token = match pending.session.auth_manager.get_access_token().await {
        Ok(token) => token,
        Err(error) => {
            tracing::warn!(%error, "a dashboard sign-in got no access token");
            return refused(
                StatusCode::UNAUTHORIZED,
                "invalid_grant",
                "no access token".into(),
            );
        }
    };
    let mut as_bearer = headers.clone();
    let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a token with characters a token never has".into(),
        );
    };
    as_bearer.insert(header::AUTHORIZATION, value);
    match auth.check(&as_bearer, &pending.resource).await {
        Ok(principal) => {
            tracing::info!(principal = %principal.name, "a browser signed in through the authorization server");
            let (_, cookies) = super::open_browser_session(auth, principal, headers);
            let mut response = Redirect::to(&pending.next).into_response();
            super::append_cookies(&mut response, cookies);
            response
        }
        Err(refusal) => {
            let (status, error, reason) = super::refusal_parts(refusal);
            tracing::warn!(%reason, "refused a dashboard sign-in's token");
            crate::metrics::auth_refused(error.unwrap_or("missing"));
            refused(
                status,
                error.unwrap_or("unauthorized"),
                "the authorization server's token is not accepted here".into(),
            )
        }
    }
}

/// One query parameter of `url`, decoded.
fn query_value(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}
