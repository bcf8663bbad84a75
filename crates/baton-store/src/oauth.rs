//! OAuth credentials of remote servers Baton signs in to (SQLite migration 9, PostgreSQL
//! 5): one row per server name, its credentials as the OAuth client library serializes
//! them (client id, tokens, granted scopes, issuer) — opaque here. On SQLite the database
//! file is readable by its owner only (mode 0600), since it holds these tokens.

use crate::Result;

/// A server's stored credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthRow {
    pub server: String,
    /// The credentials document (JSON text).
    pub credentials: String,
    /// When they were last written (ms since the Unix epoch).
    pub updated_at: i64,
}

impl std::fmt::Debug for OAuthRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthRow")
            .field("server", &self.server)
            .field("credentials", &"[REDACTED]")
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

feature! {
    /// Remote servers' OAuth credentials, as every backend keeps them.
    OAuthStore {
        /// The credentials of `server`, if any.
        fn oauth_credentials(&self, server: &str) -> Result<Option<OAuthRow>>;
        /// Replaces the credentials of `server`.
        fn save_oauth_credentials(&self, server: &str, credentials: &str) -> Result<()>;
        /// Forgets the credentials of `server`; whether there were any.
        fn delete_oauth_credentials(&self, server: &str) -> Result<bool>;
        /// Every server with credentials, by name.
        fn oauth_servers(&self) -> Result<Vec<OAuthRow>>;
    }
}
