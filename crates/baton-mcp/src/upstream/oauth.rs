//! An upstream's OAuth: which servers carry a token (`auth: oauth` in the config, or
//! credentials stored by `baton auth login` for a server that asked for one), and the
//! state a server is in when it needs a person to sign in.

use baton_core::config::{HttpConfig, OAuthConfig};

use super::UpstreamError;
use crate::oauth::{SignInError, credentials_of};

/// The OAuth settings `server`'s requests use: its `auth:`, else the defaults when a
/// sign-in stored credentials for it (a server that asked with a 401); `None`: no token.
pub(super) async fn settings_for(server: &str, http: &HttpConfig) -> Option<OAuthConfig> {
    if let Some(oauth) = &http.oauth {
        return Some(oauth.clone());
    }
    match credentials_of(server).load().await {
        Ok(Some(stored)) if stored.token_response.is_some() => Some(OAuthConfig::default()),
        _ => None,
    }
}

/// `client` with `server`'s token, or why there is none.
pub(super) async fn signed_in<C>(
    server: &str,
    http: &HttpConfig,
    settings: &OAuthConfig,
    client: C,
) -> Result<rmcp::transport::auth::AuthClient<C>, UpstreamError> {
    crate::oauth::authorized(server, &http.url, settings, client)
        .await
        .map_err(|error| match error {
            SignInError::NeedsLogin(message) => UpstreamError::NeedsLogin(message),
            SignInError::Failed(reason) => UpstreamError::Connect {
                url: http.url.clone(),
                reason,
            },
        })
}

/// A challenge in words: the server asked for a token (and which scope).
pub(super) fn challenge_reason(challenge: &str) -> String {
    let scope = challenge
        .split("scope=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|scope| !scope.is_empty());
    let insufficient = challenge.contains("insufficient_scope");
    match (insufficient, scope) {
        (true, Some(scope)) => format!("it wants the scope \"{scope}\""),
        (true, None) => "the token lacks a scope it wants".to_owned(),
        (false, Some(scope)) => format!("it answered 401 and wants a token with scope \"{scope}\""),
        (false, None) => "it answered 401 and wants a token".to_owned(),
    }
}

/// Whether `server`'s stored credentials changed since `seen` (a sign-in happened).
pub(super) async fn credentials_stamp(server: &str) -> Option<u64> {
    let stored = credentials_of(server).load().await.ok()??;
    stored.token_response.as_ref()?;
    Some(stored.token_received_at.unwrap_or(1))
}
