//! Remote servers' OAuth credentials kept in the store (`oauth_credentials`), so a sign-in
//! done with `baton auth login` is used by `baton serve` (and every worker on a shared
//! store), survives restarts, and refreshed tokens are saved where the next process finds
//! them. Installed before any server connects ([`install`]).

use std::sync::Arc;

use baton_mcp::oauth::CredentialSource;
use baton_store::Store;
use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};

/// Makes the store where every server's OAuth credentials live, for this process.
pub fn install(store: &Store) {
    baton_mcp::oauth::set_credential_source(Arc::new(StoreCredentials(store.clone())));
}

struct StoreCredentials(Store);

impl CredentialSource for StoreCredentials {
    fn for_server(&self, server: &str) -> Arc<dyn CredentialStore> {
        Arc::new(ServerCredentials {
            store: self.0.clone(),
            server: server.to_owned(),
        })
    }
}

struct ServerCredentials {
    store: Store,
    server: String,
}

fn store_error(error: impl std::fmt::Display) -> AuthError {
    AuthError::InternalError(format!("the credentials store: {error}"))
}

#[async_trait::async_trait]
impl CredentialStore for ServerCredentials {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let Some(row) = self
            .store
            .oauth_credentials(&self.server)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        match serde_json::from_str(&row.credentials) {
            Ok(credentials) => Ok(Some(credentials)),
            Err(error) => {
                // Never the document itself: it holds tokens.
                tracing::warn!(server = %self.server, %error, "stored OAuth credentials are unreadable; sign in again with `baton auth login`");
                Ok(None)
            }
        }
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let text = serde_json::to_string(&credentials).map_err(store_error)?;
        self.store
            .save_oauth_credentials(&self.server, &text)
            .await
            .map_err(store_error)
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.store
            .delete_oauth_credentials(&self.server)
            .await
            .map(|_| ())
            .map_err(store_error)
    }
}
