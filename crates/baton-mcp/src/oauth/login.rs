//! A person signing in to a remote server: the authorization code grant with PKCE, the
//! browser sent to the authorization server, the code received on a loopback redirect
//! (`http://127.0.0.1:PORT/callback`) that this process listens on for the length of the
//! sign-in, the tokens saved where the server's credentials live.

use std::time::Duration;

use axum::{http::StatusCode, response::IntoResponse};
use baton_core::config::{OAuthConfig, OAuthGrant, loopback_redirect};
use rmcp::transport::auth::{AuthError, AuthorizationManager, AuthorizationRequest, OAuthState};
use tokio::sync::mpsc;

use super::{Shared, SignInError, credentials_of};

/// How the authorization URL reaches the authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Print the URL and open the system browser when there is one; a person signs in.
    System,
    /// Follow the URL over HTTP without a person: for an authorization server that
    /// approves at once (the conformance suite, tests).
    Headless,
}

/// What a sign-in gave.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// How long a person has to sign in.
const SIGN_IN_WITHIN: Duration = Duration::from_secs(300);
/// Redirects a headless sign-in follows at most.
const MAX_HOPS: usize = 10;

/// The `WWW-Authenticate` challenge `url` answers an unauthenticated MCP handshake with
/// (a 401, or a 403 for a missing scope); `None` when it answered without one.
pub async fn probe_challenge(url: &str) -> Result<Option<String>, String> {
    use rmcp::{ServiceExt, transport::StreamableHttpClientTransport};
    let transport = StreamableHttpClientTransport::from_uri(url);
    match ().serve(transport).await {
        Ok(session) => {
            let _ = session.cancel().await;
            Ok(None)
        }
        Err(error) => match error.auth_challenge() {
            Some(challenge) => Ok(Some(challenge.to_owned())),
            None => Err(format!("cannot reach {url}: {error}")),
        },
    }
}

/// Signs in to `server` at `url` as `oauth` says and saves the tokens; `challenge` is a
/// `WWW-Authenticate` the server answered with (probed when `None`), `scopes` scopes to
/// ask for instead of the configured ones (a step-up).
pub async fn login(
    server: &str,
    url: &str,
    oauth: &OAuthConfig,
    browser: Browser,
    challenge: Option<String>,
    scopes: &[String],
) -> Result<LoginOutcome, SignInError> {
    let failed = |error: AuthError| SignInError::Failed(error.to_string());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| SignInError::Failed(error.to_string()))?;
    if oauth.grant == OAuthGrant::ClientCredentials {
        credentials_of(server).clear().await.map_err(failed)?;
        super::manager(server, url, oauth).await?;
        return outcome(server).await;
    }
    let challenge = match challenge {
        Some(challenge) => Some(challenge),
        None => probe_challenge(url).await.map_err(SignInError::Failed)?,
    };
    let mut manager = AuthorizationManager::new_allowing_private_addresses(url)
        .await
        .map_err(failed)?;
    manager.set_credential_store(Shared(credentials_of(server)));
    let (listener, redirect_uri, path) = listen(oauth).await?;
    let mut request = AuthorizationRequest::new(&redirect_uri).with_client_name("Baton");
    if let Some(client_id) = &oauth.client_id {
        request = request.with_preregistered_client(client_id);
        if let Some(secret) = &oauth.client_secret {
            request = request.with_client_secret(secret);
        }
    }
    if let Some(document) = &oauth.client_metadata_url {
        request = request.with_client_metadata_url(document);
    }
    let wanted = if scopes.is_empty() {
        &oauth.scopes
    } else {
        scopes
    };
    if !wanted.is_empty() {
        request = request.with_scopes(wanted.iter().cloned());
    }
    if let Some(challenge) = challenge {
        request = request.with_challenge(challenge);
    }
    let mut state = OAuthState::Unauthorized(manager);
    state.start_authorization(request).await.map_err(failed)?;
    let authorization_url = state.get_authorization_url().await.map_err(failed)?;
    let (sender, mut callbacks) = mpsc::channel(1);
    let receiver = tokio::spawn(receive(listener, path, redirect_uri.clone(), sender));
    let opened = match browser {
        Browser::System => {
            open_system_browser(server, &authorization_url);
            Ok(())
        }
        Browser::Headless => follow(&http, &authorization_url, &redirect_uri).await,
    };
    let callback = match opened {
        Ok(()) => tokio::time::timeout(SIGN_IN_WITHIN, callbacks.recv())
            .await
            .ok()
            .flatten(),
        Err(error) => {
            receiver.abort();
            return Err(error);
        }
    };
    receiver.abort();
    let callback = callback.ok_or_else(|| {
        SignInError::Failed(format!(
            "no sign-in came back to {redirect_uri} within {SIGN_IN_WITHIN:?}"
        ))
    })?;
    if let Some(refused) = refusal(&callback) {
        return Err(SignInError::Failed(refused));
    }
    state.handle_callback_url(&callback).await.map_err(failed)?;
    outcome(server).await
}

async fn outcome(server: &str) -> Result<LoginOutcome, SignInError> {
    let stored = credentials_of(server)
        .load()
        .await
        .map_err(|error| SignInError::Failed(error.to_string()))?
        .ok_or_else(|| SignInError::Failed("no credentials were saved".into()))?;
    Ok(LoginOutcome {
        client_id: stored.client_id,
        scopes: stored.granted_scopes,
    })
}

/// The loopback listener for the redirect, the redirect URI it answers, and its path.
async fn listen(
    oauth: &OAuthConfig,
) -> Result<(tokio::net::TcpListener, String, String), SignInError> {
    let configured = oauth.redirect_uri.as_deref();
    let (port, path) = configured
        .and_then(loopback_redirect)
        .unwrap_or((0, "/callback".to_owned()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|error| {
            SignInError::Failed(format!(
                "cannot listen on 127.0.0.1:{port} for the sign-in's redirect: {error}"
            ))
        })?;
    let bound = listener
        .local_addr()
        .map_err(|error| SignInError::Failed(error.to_string()))?
        .port();
    let redirect_uri = match configured {
        Some(uri) if port != 0 => uri.to_owned(),
        _ => format!("http://127.0.0.1:{bound}{path}"),
    };
    Ok((listener, redirect_uri, path))
}

/// Serves the redirect: the first request to `path` is the sign-in's answer.
async fn receive(
    listener: tokio::net::TcpListener,
    path: String,
    redirect_uri: String,
    sender: mpsc::Sender<String>,
) {
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let (path, redirect_uri, sender) = (path.clone(), redirect_uri.clone(), sender.clone());
        async move {
            if uri.path() != path {
                return (StatusCode::NOT_FOUND, "not the sign-in's redirect").into_response();
            }
            let base = redirect_uri
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned();
            let full = match uri.query() {
                Some(query) => format!("{base}?{query}"),
                None => base,
            };
            let _ = sender.send(full).await;
            (
                StatusCode::OK,
                "Signed in: Baton has the answer. You can close this tab.",
            )
                .into_response()
        }
    });
    let _ = axum::serve(listener, app).await;
}

/// `error=…` in the redirect: the authorization server refused.
fn refusal(callback: &str) -> Option<String> {
    let query = callback.split_once('?')?.1;
    let mut error = None;
    let mut description = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("error", value)) => error = Some(value.to_owned()),
            Some(("error_description", value)) => {
                description = Some(value.replace('+', " ").replace("%20", " "))
            }
            _ => {}
        }
    }
    error.map(|error| match description {
        Some(description) => format!("the authorization server refused: {error} ({description})"),
        None => format!("the authorization server refused: {error}"),
    })
}

/// Prints the URL and opens the system browser when there is one.
fn open_system_browser(server: &str, url: &str) {
    eprintln!("To sign in to \"{server}\", open this address in a browser:\n\n  {url}\n");
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let has_display = cfg!(target_os = "macos")
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if has_display {
        let _ = std::process::Command::new(opener)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    eprintln!("Waiting for the browser to come back (Ctrl-C to give up)…");
}

/// A headless sign-in: follows the authorization server's redirects until one goes to
/// `redirect_uri`, and delivers that one to the listener.
async fn follow(
    http: &reqwest::Client,
    authorization_url: &str,
    redirect_uri: &str,
) -> Result<(), SignInError> {
    let mut next = reqwest::Url::parse(authorization_url)
        .map_err(|error| SignInError::Failed(format!("authorization URL: {error}")))?;
    for _ in 0..MAX_HOPS {
        let delivering = next.as_str().starts_with(redirect_uri);
        let response = http
            .get(next.clone())
            .send()
            .await
            .map_err(|error| SignInError::Failed(format!("{next}: {error}")))?;
        if delivering {
            return Ok(());
        }
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        match location {
            Some(location) if status.is_redirection() => {
                next = next.join(&location).map_err(|error| {
                    SignInError::Failed(format!("redirect to \"{location}\": {error}"))
                })?;
            }
            _ => {
                return Err(SignInError::Failed(format!(
                    "the authorization server answered {status} instead of sending the browser back: it wants a person (use `baton auth login` without --headless)"
                )));
            }
        }
    }
    Err(SignInError::Failed(format!(
        "more than {MAX_HOPS} redirects without coming back to {redirect_uri}"
    )))
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn a_refused_sign_in_is_told() {
        assert_eq!(
            refusal("http://127.0.0.1:1/callback?error=access_denied&error_description=no+way"),
            Some("the authorization server refused: access_denied (no way)".into())
        );
        assert_eq!(
            refusal("http://127.0.0.1:1/callback?code=abc&state=x"),
            None
        );
    }
}
