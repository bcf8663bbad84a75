//! Baton as an OAuth client of remote MCP servers (the MCP authorization specification,
//! 2025-11-25): discovery from a 401's `WWW-Authenticate` (Protected Resource Metadata,
//! then the authorization server's metadata), client registration (pre-registered,
//! a Client ID Metadata Document, or Dynamic Client Registration), the authorization
//! code grant with PKCE and the `resource` parameter, refresh before expiry, and the
//! client credentials grant. rmcp's `auth` module does the protocol; this module decides
//! where credentials live, how a person signs in ([`login`]), and when a server needs one.
//!
//! Credentials are kept per server by a [`CredentialSource`] the application installs
//! ([`set_credential_source`]: the store, so they survive restarts and are shared by the
//! CLI and `baton serve`); without one they live in memory.

mod login;

use std::sync::{Arc, OnceLock};

use baton_core::config::{OAuthConfig, OAuthGrant};
pub use login::{Browser, LoginOutcome, login, probe_challenge};
use rmcp::transport::auth::{
    AuthClient, AuthError, AuthorizationManager, ClientCredentialsConfig, CredentialStore,
    InMemoryCredentialStore, OAuthClientConfig, StoredCredentials,
};

/// Where each server's credentials are kept.
pub trait CredentialSource: Send + Sync {
    fn for_server(&self, server: &str) -> Arc<dyn CredentialStore>;
}

static SOURCE: OnceLock<Arc<dyn CredentialSource>> = OnceLock::new();

/// Installs where credentials are kept, once per process, before servers connect (a
/// second call changes nothing).
pub fn set_credential_source(source: Arc<dyn CredentialSource>) {
    let _ = SOURCE.set(source);
}

/// The store of `server`'s credentials (in memory when no source was installed).
pub fn credentials_of(server: &str) -> Arc<dyn CredentialStore> {
    match SOURCE.get() {
        Some(source) => source.for_server(server),
        None => memory().for_server(server),
    }
}

fn memory() -> &'static MemorySource {
    static MEMORY: OnceLock<MemorySource> = OnceLock::new();
    MEMORY.get_or_init(MemorySource::default)
}

#[derive(Default)]
struct MemorySource(std::sync::Mutex<std::collections::HashMap<String, InMemoryCredentialStore>>);

impl CredentialSource for MemorySource {
    fn for_server(&self, server: &str) -> Arc<dyn CredentialStore> {
        let mut stores = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Arc::new(stores.entry(server.to_owned()).or_default().clone())
    }
}

/// An `Arc<dyn CredentialStore>` as the concrete store rmcp's manager takes.
struct Shared(Arc<dyn CredentialStore>);

#[async_trait::async_trait]
impl CredentialStore for Shared {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        self.0.load().await
    }
    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        self.0.save(credentials).await
    }
    async fn clear(&self) -> Result<(), AuthError> {
        self.0.clear().await
    }
    async fn on_refresh_token_rejected(
        &self,
        credentials: &StoredCredentials,
    ) -> Result<(), AuthError> {
        self.0.on_refresh_token_rejected(credentials).await
    }
}

/// Why a server's requests cannot carry a token now.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// No usable credentials: a person has to sign in (`baton auth login SERVER`).
    #[error("{0}")]
    NeedsLogin(String),
    /// Discovery, the token endpoint or the store failed: trying again may work.
    #[error("OAuth: {0}")]
    Failed(String),
}

/// The message of a server that needs a sign-in.
pub fn needs_login_message(server: &str, why: &str) -> String {
    format!("server \"{server}\" needs an OAuth sign-in ({why}): run `baton auth login {server}`")
}

/// An authorization manager for `url` holding `server`'s stored credentials; the
/// client credentials grant exchanges new ones when there are none usable.
pub async fn manager(
    server: &str,
    url: &str,
    oauth: &OAuthConfig,
) -> Result<AuthorizationManager, SignInError> {
    let failed = |error: AuthError| SignInError::Failed(error.to_string());
    let mut manager = AuthorizationManager::new_allowing_private_addresses(url)
        .await
        .map_err(failed)?;
    if oauth.grant == OAuthGrant::ClientCredentials {
        // Tokens come from the exchange, again whenever one is about to expire.
        manager.set_credential_store(FreshCredentials {
            inner: credentials_of(server),
            url: url.to_owned(),
            oauth: oauth.clone(),
            exchanging: tokio::sync::Mutex::new(()),
        });
        manager.initialize_from_store().await.map_err(failed)?;
        manager.get_access_token().await.map_err(failed)?;
        return Ok(manager);
    }
    manager.set_credential_store(Shared(credentials_of(server)));
    let stored = manager.initialize_from_store().await.map_err(failed)?;
    if !stored {
        return Err(SignInError::NeedsLogin(needs_login_message(
            server,
            "no stored token",
        )));
    }
    // A pre-registered confidential client needs its secret to refresh.
    if let (Some(client_id), Some(secret)) = (&oauth.client_id, &oauth.client_secret) {
        let mut config = OAuthClientConfig::new(
            client_id.clone(),
            oauth
                .redirect_uri
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1/callback".to_owned()),
        )
        .with_client_secret(secret.clone());
        if !oauth.scopes.is_empty() {
            config = config.with_scopes(oauth.scopes.clone());
        }
        manager.configure_client(config).map_err(failed)?;
    }
    match manager.get_access_token().await {
        Ok(_) => Ok(manager),
        Err(AuthError::AuthorizationRequired) => Err(SignInError::NeedsLogin(needs_login_message(
            server,
            "the stored token expired and could not be refreshed",
        ))),
        Err(error) => Err(failed(error)),
    }
}

/// The client credentials grant (machine to machine): the token is saved like any other.
async fn client_credentials(
    manager: &mut AuthorizationManager,
    url: &str,
    oauth: &OAuthConfig,
) -> Result<(), SignInError> {
    let failed = |error: AuthError| SignInError::Failed(error.to_string());
    let (Some(client_id), Some(client_secret)) = (&oauth.client_id, &oauth.client_secret) else {
        return Err(SignInError::Failed(
            "client_credentials needs client_id and client_secret".into(),
        ));
    };
    let config = ClientCredentialsConfig::ClientSecret {
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        scopes: oauth.scopes.clone(),
        resource: Some(url.to_owned()),
    };
    let resolution = manager.resolve_metadata().await.map_err(failed)?;
    manager.set_metadata(resolution.metadata);
    manager
        .configure_client_credentials(&config)
        .map_err(failed)?;
    manager
        .exchange_client_credentials(&config)
        .await
        .map_err(failed)?;
    Ok(())
}

/// The credentials of a `client_credentials` server: a token about to expire (there is no
/// refresh token in this grant) is exchanged for a new one when it is read.
struct FreshCredentials {
    inner: Arc<dyn CredentialStore>,
    url: String,
    oauth: OAuthConfig,
    /// One exchange at a time.
    exchanging: tokio::sync::Mutex<()>,
}

/// Whether a stored token has less than half its life (at most 30 s) left, as rmcp's
/// refresh rule says; `false` when its lifetime is unknown.
fn about_to_expire(credentials: &StoredCredentials) -> bool {
    let Some(summary) = summarize(credentials) else {
        return true;
    };
    let (Some(expires_at), Some(received)) = (summary.expires_at, credentials.token_received_at)
    else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let lifetime = expires_at.saturating_sub(received);
    expires_at.saturating_sub(now) < (lifetime / 2).clamp(1, 30)
}

#[async_trait::async_trait]
impl CredentialStore for FreshCredentials {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let _one = self.exchanging.lock().await;
        let stored = self.inner.load().await?;
        if stored.as_ref().is_some_and(|s| !about_to_expire(s)) {
            return Ok(stored);
        }
        tracing::debug!(url = %self.url, "exchanging client credentials for a new token");
        let mut manager = AuthorizationManager::new_allowing_private_addresses(&self.url).await?;
        manager.set_credential_store(Shared(self.inner.clone()));
        client_credentials(&mut manager, &self.url, &self.oauth)
            .await
            .map_err(|error| AuthError::InternalError(error.to_string()))?;
        self.inner.load().await
    }
    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        self.inner.save(credentials).await
    }
    async fn clear(&self) -> Result<(), AuthError> {
        self.inner.clear().await
    }
}

/// `inner` with `server`'s token on every request (refreshed before it expires, and once
/// more when the server rejects it).
pub async fn authorized<C>(
    server: &str,
    url: &str,
    oauth: &OAuthConfig,
    inner: C,
) -> Result<AuthClient<C>, SignInError> {
    Ok(AuthClient::new(inner, manager(server, url, oauth).await?))
}

/// What `baton auth status` shows of a server's stored credentials (never a token).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CredentialSummary {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub issuer: Option<String>,
    pub has_refresh_token: bool,
    /// Seconds since the Unix epoch when the access token expires, when known.
    pub expires_at: Option<u64>,
}

/// The summary of a stored credentials document (`None`: no token in it).
pub fn summarize(credentials: &StoredCredentials) -> Option<CredentialSummary> {
    let document = serde_json::to_value(credentials).ok()?;
    let token = document.get("token_response").filter(|t| !t.is_null())?;
    Some(CredentialSummary {
        client_id: credentials.client_id.clone(),
        scopes: credentials.granted_scopes.clone(),
        issuer: credentials.issuer.clone(),
        has_refresh_token: token.get("refresh_token").is_some_and(|t| !t.is_null()),
        expires_at: token
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .zip(credentials.token_received_at)
            .map(|(expires_in, at)| at + expires_in),
    })
}
