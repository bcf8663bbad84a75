//! `serve.auth`: API keys (kept as SHA-256 hashes), JWT verification settings and the
//! Protected Resource Metadata fields.

use sha2::{Digest, Sha256};

use super::*;
use crate::config::raw::{RawAudit, RawAuth, RawJwt, RawTelemetry};

impl Compiler<'_> {
    pub(super) fn auth(&mut self, raw: &RawAuth, at: serde_saphyr::Location) -> AuthConfig {
        let mut auth = AuthConfig {
            api_keys: Vec::new(),
            jwt: None,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            calls_per_minute: None,
            sessions_per_principal: None,
        };
        if let Some(limits) = &raw.limits {
            if let Some(limit) = &limits.calls_per_minute {
                auth.calls_per_minute =
                    self.at_least_one(limit, "serve.auth.limits.calls_per_minute");
            }
            if let Some(limit) = &limits.sessions {
                auth.sessions_per_principal =
                    self.at_least_one(limit, "serve.auth.limits.sessions");
            }
        }
        for (principal, key) in &raw.api_keys {
            let path = format!("serve.auth.api_keys.{principal}");
            let Some(text) = self.string(key, &path) else {
                continue;
            };
            match text.strip_prefix("sha256:") {
                Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    auth.api_keys.push((principal.clone(), hex.to_ascii_lowercase()));
                }
                Some(_) => self.sink.push(
                    key.referenced,
                    path,
                    "a hashed key is sha256: followed by 64 hex digits (`baton auth key new NAME` prints one)",
                ),
                None if text.len() < 16 => self.sink.push(
                    key.referenced,
                    path,
                    "a key must be at least 16 characters (`baton auth key new NAME` makes one)",
                ),
                None => auth
                    .api_keys
                    .push((principal.clone(), sha256_hex(text.as_bytes()))),
            }
        }
        if let Some(jwt) = &raw.jwt {
            auth.jwt = self.jwt(&jwt.value, jwt.referenced);
        }
        for (index, server) in raw.authorization_servers.iter().enumerate() {
            let path = format!("serve.auth.authorization_servers[{index}]");
            if let Some(url) = self.string(server, &path) {
                auth.authorization_servers.push(url);
            }
        }
        for (index, scope) in raw.scopes_supported.iter().enumerate() {
            let path = format!("serve.auth.scopes_supported[{index}]");
            if let Some(scope) = self.string(scope, &path) {
                auth.scopes_supported.push(scope);
            }
        }
        if auth.api_keys.is_empty() && auth.jwt.is_none() {
            self.sink.push(
                at,
                "serve.auth",
                "give api_keys or jwt (or both): with neither, nobody could call Baton",
            );
        }
        auth
    }

    /// `audit:` over its defaults (on when `serve.auth` is set; kept 30 days).
    pub(super) fn audit(&mut self, raw: &RawAudit, audit: &mut AuditSettings) {
        if let Some(enabled) = raw.enabled {
            audit.enabled = enabled;
        }
        if let Some(keep_for) = &raw.keep_for
            && let Some(duration) = self.duration(keep_for, "audit.keep_for")
        {
            audit.keep_for = duration;
        }
    }

    /// `telemetry:`'s trace settings (`None` when it configures no traces).
    pub(super) fn traces(&mut self, raw: &RawTelemetry) -> Option<TraceSettings> {
        if raw.otlp.is_none() && raw.service_name.is_none() && raw.sample_ratio.is_none() {
            return None;
        }
        let mut traces = TraceSettings {
            endpoint: None,
            headers: Vec::new(),
            service_name: None,
            sample_ratio: 1.0,
        };
        if let Some(otlp) = &raw.otlp {
            if let Some(endpoint) = &otlp.value.endpoint
                && let Some(url) = self.string(endpoint, "telemetry.otlp.endpoint")
            {
                if url.starts_with("http://") || url.starts_with("https://") {
                    traces.endpoint = Some(url);
                } else {
                    self.sink.push(
                        endpoint.referenced,
                        "telemetry.otlp.endpoint",
                        format!("\"{url}\" is not an http(s) URL: e.g. http://127.0.0.1:4318"),
                    );
                }
            }
            if let Some(protocol) = &otlp.value.protocol
                && let Some(name) = self.string(protocol, "telemetry.otlp.protocol")
                && name != "http/protobuf"
            {
                self.sink.push(
                    protocol.referenced,
                    "telemetry.otlp.protocol",
                    format!(
                        "\"{name}\" is not supported: use http/protobuf (a collector's port 4318)"
                    ),
                );
            }
            for (name, value) in &otlp.value.headers {
                if let Some(value) = self.string(value, &format!("telemetry.otlp.headers.{name}")) {
                    traces.headers.push((name.clone(), value));
                }
            }
        }
        if let Some(name) = &raw.service_name {
            traces.service_name = self.string(name, "telemetry.service_name");
        }
        if let Some(ratio) = &raw.sample_ratio {
            if (0.0..=1.0).contains(&ratio.value) {
                traces.sample_ratio = ratio.value;
            } else {
                self.sink.push(
                    ratio.referenced,
                    "telemetry.sample_ratio",
                    "must be between 0.0 (no trace) and 1.0 (every trace)",
                );
            }
        }
        Some(traces)
    }

    /// A limit that must be at least 1 (leaving it out means no limit).
    pub(super) fn at_least_one(&mut self, limit: &Spanned<u32>, path: &str) -> Option<u32> {
        if limit.value == 0 {
            self.sink.push(
                limit.referenced,
                path,
                "must be at least 1 (leave it out for no limit)",
            );
            return None;
        }
        Some(limit.value)
    }

    fn jwt(&mut self, raw: &RawJwt, at: serde_saphyr::Location) -> Option<JwtConfig> {
        let issuer = match &raw.issuer {
            Some(issuer) => self.string(issuer, "serve.auth.jwt.issuer")?,
            None => {
                self.sink
                    .push(at, "serve.auth.jwt", "issuer is required (the tokens' iss)");
                return None;
            }
        };
        let audience = match &raw.audience {
            Some(audience) => Some(self.string(audience, "serve.auth.jwt.audience")?),
            None => None,
        };
        let jwks = match (&raw.jwks_url, &raw.jwks_file) {
            (Some(url), None) => JwksSource::Url(self.string(url, "serve.auth.jwt.jwks_url")?),
            (None, Some(file)) => {
                let file = self.string(file, "serve.auth.jwt.jwks_file")?;
                JwksSource::File(self.base_dir.join(file))
            }
            _ => {
                self.sink.push(
                    at,
                    "serve.auth.jwt",
                    "give exactly one of jwks_url (fetched and cached) or jwks_file",
                );
                return None;
            }
        };
        let roles_claim = match &raw.roles_claim {
            Some(claim) => self.string(claim, "serve.auth.jwt.roles_claim")?,
            None => "roles".to_owned(),
        };
        let mut algorithms = Vec::new();
        for (index, algorithm) in raw.algorithms.iter().enumerate() {
            let path = format!("serve.auth.jwt.algorithms[{index}]");
            let Some(name) = self.string(algorithm, &path) else {
                continue;
            };
            if JWT_ALGORITHMS.contains(&name.as_str()) {
                algorithms.push(name);
            } else {
                self.sink.push(
                    algorithm.referenced,
                    path,
                    format!(
                        "\"{name}\" is not accepted: use {} (never none or a shared secret)",
                        JWT_ALGORITHMS.join(", ")
                    ),
                );
            }
        }
        if algorithms.is_empty() {
            algorithms = ["RS256", "ES256", "EdDSA"].map(str::to_owned).to_vec();
        }
        let leeway = match &raw.leeway {
            Some(leeway) => self.duration_or_zero(leeway, "serve.auth.jwt.leeway")?,
            None => Duration::from_secs(60),
        };
        Some(JwtConfig {
            issuer,
            audience,
            jwks,
            roles_claim,
            algorithms,
            leeway,
        })
    }
}

/// The lowercase hex SHA-256 of `bytes` (how API keys are kept).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
