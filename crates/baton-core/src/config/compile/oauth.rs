//! `servers.NAME.auth` of a `url` server: the OAuth client settings ([`OAuthConfig`]).

use serde_saphyr::Spanned;

use super::*;
use crate::config::oauth::{OAuthConfig, OAuthGrant, RawOAuth, RawServerAuth, loopback_redirect};

impl Compiler<'_> {
    /// `servers.NAME.auth` of a `url` server (`at`: the server's position).
    pub(super) fn server_auth(
        &mut self,
        path: &str,
        at: serde_saphyr::Location,
        raw: &Spanned<RawServerAuth>,
    ) -> Option<OAuthConfig> {
        let path = format!("{path}.auth");
        // Inside `auth:` the positions are lost (it is one of two shapes): errors point at
        // `auth:` itself.
        let at = if raw.referenced.line() > 0 {
            raw.referenced
        } else {
            at
        };
        match &raw.value {
            RawServerAuth::Kind(kind) => {
                if kind.value != "oauth" {
                    self.sink.push(
                        at,
                        &path,
                        format!(
                            "unknown auth \"{}\": write `auth: oauth` (or `auth: {{ oauth: {{ client_id: …, scopes: […] }} }}`); a static token goes in `headers: {{ Authorization: \"Bearer ${{TOKEN}}\" }}`",
                            kind.value
                        ),
                    );
                    return None;
                }
                Some(OAuthConfig::default())
            }
            RawServerAuth::Detailed(map) => self.oauth(&format!("{path}.oauth"), at, &map.oauth),
        }
    }

    fn oauth(
        &mut self,
        path: &str,
        at: serde_saphyr::Location,
        raw: &Spanned<RawOAuth>,
    ) -> Option<OAuthConfig> {
        let oauth = &raw.value;
        let text = |compiler: &mut Self, value: &Option<SpannedString>, field: &str| {
            value
                .as_ref()
                .and_then(|value| compiler.string(value, &format!("{path}.{field}")))
                .filter(|text| !text.trim().is_empty())
        };
        let grant = match &oauth.grant {
            None => OAuthGrant::AuthorizationCode,
            Some(grant) => match grant.value.as_str() {
                "authorization_code" => OAuthGrant::AuthorizationCode,
                "client_credentials" => OAuthGrant::ClientCredentials,
                other => {
                    self.sink.push(
                        at,
                        format!("{path}.grant"),
                        format!("unknown grant \"{other}\": use authorization_code (a person signs in) or client_credentials (machine to machine)"),
                    );
                    return None;
                }
            },
        };
        let config = OAuthConfig {
            client_id: text(self, &oauth.client_id, "client_id"),
            client_secret: text(self, &oauth.client_secret, "client_secret"),
            scopes: oauth
                .scopes
                .iter()
                .enumerate()
                .filter_map(|(i, scope)| self.string(scope, &format!("{path}.scopes[{i}]")))
                .collect(),
            client_metadata_url: text(self, &oauth.client_metadata_url, "client_metadata_url"),
            redirect_uri: text(self, &oauth.redirect_uri, "redirect_uri"),
            grant,
        };
        let at = if raw.referenced.line() > 0 {
            raw.referenced
        } else {
            at
        };
        if config.client_secret.is_some() && config.client_id.is_none() {
            self.sink.push(
                at,
                format!("{path}.client_secret"),
                "a client_secret goes with the client_id it was issued for: add client_id",
            );
        }
        if config.grant == OAuthGrant::ClientCredentials
            && (config.client_id.is_none() || config.client_secret.is_none())
        {
            self.sink.push(
                at,
                format!("{path}.grant"),
                "client_credentials needs the client_id and client_secret the authorization server issued to Baton",
            );
        }
        if let Some(url) = &config.client_metadata_url
            && !url.starts_with("https://")
        {
            self.sink.push(
                at,
                format!("{path}.client_metadata_url"),
                format!("\"{url}\" must be an https:// URL (it is the client ID: the authorization server fetches it)"),
            );
        }
        if let Some(uri) = &config.redirect_uri
            && loopback_redirect(uri).is_none()
        {
            self.sink.push(
                at,
                format!("{path}.redirect_uri"),
                format!("\"{uri}\" is not a loopback redirect: Baton receives the code itself, at http://127.0.0.1:PORT/PATH (or http://localhost:PORT/PATH)"),
            );
        }
        Some(config)
    }
}
