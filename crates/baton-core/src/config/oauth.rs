//! `servers.NAME.auth:` — how Baton signs in to a remote server that requires OAuth (the
//! MCP authorization specification, Baton as the OAuth client).
//!
//! ```yaml
//! servers:
//!   tracker:
//!     url: https://mcp.tracker.example/mcp
//!     auth: oauth                 # browser sign-in with `baton auth login tracker`
//!   billing:
//!     url: https://mcp.billing.example/mcp
//!     auth:
//!       oauth:
//!         grant: client_credentials   # machine to machine: no browser
//!         client_id: baton
//!         client_secret: ${BILLING_SECRET}
//!         scopes: [mcp:tools]
//! ```

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::SpannedString;

/// How a remote server's OAuth tokens are obtained.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OAuthGrant {
    /// A person signs in in a browser (`baton auth login SERVER`); refresh tokens keep it.
    #[default]
    AuthorizationCode,
    /// Baton exchanges its own client credentials; no person involved.
    ClientCredentials,
}

/// `servers.NAME.auth.oauth`: everything is optional for `authorization_code` (the
/// client registers itself with Dynamic Client Registration, or uses a Client ID
/// Metadata Document when the authorization server supports one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OAuthConfig {
    pub grant: OAuthGrant,
    /// A pre-registered client (skips registration).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Scopes to ask for (default: the server's challenge, else its `scopes_supported`).
    pub scopes: Vec<String>,
    /// An https URL of this client's metadata document (SEP-991), used as its client ID.
    pub client_metadata_url: Option<String>,
    /// Where the browser returns the code: `http://127.0.0.1:PORT/PATH` (default: a free
    /// loopback port, `/callback`). A pre-registered client needs the registered one.
    pub redirect_uri: Option<String>,
}

/// `auth: oauth`, or `auth: { oauth: { … } }`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "expected `oauth`, or { oauth: { grant, client_id, client_secret, scopes, client_metadata_url, redirect_uri } }"
)]
pub enum RawServerAuth {
    Kind(SpannedString),
    Detailed(RawServerAuthMap),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerAuthMap {
    pub oauth: Spanned<RawOAuth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth {
    pub grant: Option<SpannedString>,
    pub client_id: Option<SpannedString>,
    pub client_secret: Option<SpannedString>,
    #[serde(default)]
    pub scopes: Vec<SpannedString>,
    pub client_metadata_url: Option<SpannedString>,
    pub redirect_uri: Option<SpannedString>,
}

/// The port and path of a loopback redirect URI (`http://127.0.0.1:8976/callback`); port 0
/// (or none) means any free port.
pub fn loopback_redirect(uri: &str) -> Option<(u16, String)> {
    let rest = uri
        .strip_prefix("http://127.0.0.1")
        .or_else(|| uri.strip_prefix("http://localhost"))
        .or_else(|| uri.strip_prefix("http://[::1]"))?;
    let (port, path) = match rest.strip_prefix(':') {
        Some(rest) => {
            let end = rest.find('/').unwrap_or(rest.len());
            (rest[..end].parse().ok()?, &rest[end..])
        }
        None if rest.is_empty() || rest.starts_with('/') => (0, rest),
        None => return None,
    };
    let path = if path.is_empty() { "/" } else { path };
    Some((port, path.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{OAuthConfig, OAuthGrant, loopback_redirect};
    use crate::config::{Config, ConfigError, TransportConfig, parse};

    fn env(name: &str) -> Option<String> {
        (name == "SECRET").then(|| "s3cret".to_owned())
    }

    fn oauth_of(config: &Config, server: &str) -> Option<OAuthConfig> {
        let found = config.servers.iter().find(|s| s.name == server).unwrap();
        match &found.transport {
            TransportConfig::Http(http) => http.oauth.clone(),
            TransportConfig::Stdio(_) => None,
        }
    }

    #[test]
    fn auth_oauth_compiles_in_both_forms() {
        let text = "servers:\n  a:\n    url: https://a.example/mcp\n    auth: oauth\n  b:\n    url: https://b.example/mcp\n    auth:\n      oauth:\n        grant: client_credentials\n        client_id: baton\n        client_secret: ${SECRET}\n        scopes: [mcp:tools, offline_access]\n  c:\n    url: https://c.example/mcp\n    auth:\n      oauth: { client_metadata_url: https://baton.example/client.json, redirect_uri: http://127.0.0.1:8976/callback }\n  d:\n    url: https://d.example/mcp\n";
        let config = parse(Path::new("baton.yaml"), text, &env).unwrap();
        assert_eq!(oauth_of(&config, "a"), Some(OAuthConfig::default()));
        let b = oauth_of(&config, "b").unwrap();
        assert_eq!(b.grant, OAuthGrant::ClientCredentials);
        assert_eq!(b.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(b.scopes, ["mcp:tools", "offline_access"]);
        let c = oauth_of(&config, "c").unwrap();
        assert_eq!(
            c.redirect_uri.as_deref(),
            Some("http://127.0.0.1:8976/callback")
        );
        assert_eq!(oauth_of(&config, "d"), None);
    }

    #[test]
    fn bad_auth_settings_are_named_with_their_fix() {
        let text = "servers:\n  a:\n    url: https://a.example/mcp\n    auth: basic\n  b:\n    url: https://b.example/mcp\n    auth:\n      oauth: { grant: client_credentials, client_id: x }\n  c:\n    url: https://c.example/mcp\n    auth:\n      oauth: { redirect_uri: https://evil.example/cb, client_metadata_url: http://x/y }\n  d:\n    command: server\n    auth: oauth\n";
        let errors: Vec<ConfigError> = parse(Path::new("baton.yaml"), text, &env).unwrap_err().0;
        let find = |path: &str| {
            errors
                .iter()
                .find(|e| e.path == path)
                .unwrap_or_else(|| panic!("no error at {path}: {errors:#?}"))
        };
        assert!(
            find("servers.a.auth")
                .message
                .contains("write `auth: oauth`")
        );
        assert!(
            find("servers.b.auth.oauth.grant")
                .message
                .contains("client_secret")
        );
        assert!(
            find("servers.c.auth.oauth.redirect_uri")
                .message
                .contains("loopback")
        );
        assert!(
            find("servers.c.auth.oauth.client_metadata_url")
                .message
                .contains("https://")
        );
        assert!(find("servers.d.auth").message.contains("`url` servers"));
        assert_eq!(find("servers.a.auth").line, 4);
    }

    #[test]
    fn loopback_redirects_are_recognized() {
        assert_eq!(
            loopback_redirect("http://127.0.0.1:8976/callback"),
            Some((8976, "/callback".into()))
        );
        assert_eq!(
            loopback_redirect("http://localhost/cb"),
            Some((0, "/cb".into()))
        );
        assert_eq!(
            loopback_redirect("http://127.0.0.1:80"),
            Some((80, "/".into()))
        );
        assert_eq!(loopback_redirect("https://example.com/callback"), None);
        assert_eq!(loopback_redirect("http://127.0.0.1.evil.com/cb"), None);
    }
}
