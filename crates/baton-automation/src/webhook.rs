//! Webhook authentication: a bearer token, or an HMAC-SHA256 signature of the body (hex,
//! optionally `sha256=`-prefixed as GitHub sends it). Both compared in constant time.

use baton_core::schedule::{DEFAULT_SIGNATURE_HEADER, HookAuth, Webhook};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a webhook request was refused (the HTTP layer maps these to status codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("no webhook named \"{0}\"")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("the body is larger than the hook's limit of {0} bytes")]
    TooLarge(usize),
}

/// Checks a request against the hook's secret; `header` looks a request header up.
pub fn verify(
    hook: &Webhook,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<(), HookError> {
    if body.len() > hook.max_body {
        return Err(HookError::TooLarge(hook.max_body));
    }
    match &hook.auth {
        HookAuth::Bearer => {
            let given = header("authorization").unwrap_or_default();
            let token = given
                .strip_prefix("Bearer ")
                .or_else(|| given.strip_prefix("bearer "))
                .ok_or_else(|| {
                    HookError::Unauthorized("missing `Authorization: Bearer <secret>`".into())
                })?;
            if constant_time_eq(token.trim().as_bytes(), hook.secret.as_bytes()) {
                Ok(())
            } else {
                Err(HookError::Unauthorized("wrong bearer token".into()))
            }
        }
        HookAuth::Hmac { header: name } => {
            // Without a configured header, GitHub's name is accepted too.
            let given = header(&name.to_ascii_lowercase())
                .or_else(|| {
                    name.eq_ignore_ascii_case(DEFAULT_SIGNATURE_HEADER)
                        .then(|| header("x-hub-signature-256"))
                        .flatten()
                })
                .ok_or_else(|| {
                    HookError::Unauthorized(format!("missing signature header {name}"))
                })?;
            let hex = given.trim();
            let hex = hex.strip_prefix("sha256=").unwrap_or(hex);
            let signature = decode_hex(hex).ok_or_else(|| {
                HookError::Unauthorized(format!("{name} is not a hex HMAC-SHA256 signature"))
            })?;
            let mut mac = Hmac::<Sha256>::new_from_slice(hook.secret.as_bytes())
                .map_err(|_| HookError::Unauthorized("unusable secret".into()))?;
            mac.update(body);
            mac.verify_slice(&signature)
                .map_err(|_| HookError::Unauthorized(format!("bad signature in {name}")))
        }
    }
}

/// The hex HMAC-SHA256 of `body` with `secret` (what a sender puts in the header).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(auth: HookAuth) -> Webhook {
        Webhook {
            secret: "0123456789abcdef-secret".into(),
            auth,
            max_body: 64,
        }
    }

    #[test]
    fn bearer_tokens() {
        let hook = hook(HookAuth::Bearer);
        let with = |value: &'static str| {
            move |name: &str| (name == "authorization").then(|| value.to_owned())
        };
        assert_eq!(
            verify(&hook, &with("Bearer 0123456789abcdef-secret"), b"{}"),
            Ok(())
        );
        assert!(matches!(
            verify(&hook, &with("Bearer nope"), b"{}"),
            Err(HookError::Unauthorized(_))
        ));
        assert!(
            matches!(verify(&hook, &|_| None, b"{}"), Err(HookError::Unauthorized(m)) if m.contains("missing"))
        );
        assert_eq!(
            verify(&hook, &with("Bearer 0123456789abcdef-secret"), &[b'x'; 65]),
            Err(HookError::TooLarge(64))
        );
    }

    #[test]
    fn hmac_signatures() {
        let github_hook = hook(HookAuth::Hmac {
            header: "X-Hub-Signature-256".into(),
        });
        let body = br#"{"ref":"main"}"#;
        let good = format!("sha256={}", sign("0123456789abcdef-secret", body));
        let header = |value: String| {
            move |name: &str| (name == "x-hub-signature-256").then(|| value.clone())
        };
        assert_eq!(verify(&github_hook, &header(good.clone()), body), Ok(()));
        assert!(
            verify(&github_hook, &header(good), br#"{"ref":"evil"}"#).is_err(),
            "body changed"
        );
        assert!(verify(&github_hook, &header("sha256=zz".into()), body).is_err());
        assert!(verify(&github_hook, &|_| None, body).is_err());

        // The default header, or GitHub's when none is configured.
        let default = hook(HookAuth::Hmac {
            header: DEFAULT_SIGNATURE_HEADER.into(),
        });
        let signature = sign("0123456789abcdef-secret", body);
        let github = |value: String| {
            move |name: &str| (name == "x-hub-signature-256").then(|| value.clone())
        };
        assert_eq!(
            verify(&default, &github(format!("sha256={signature}")), body),
            Ok(())
        );
        let own =
            |value: String| move |name: &str| (name == "x-baton-signature").then(|| value.clone());
        assert_eq!(verify(&default, &own(signature), body), Ok(()));
    }
}
