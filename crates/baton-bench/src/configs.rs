//! The YAML the benchmark writes for Baton's optional layers (`--jwt`, `--audit`,
//! `--no-metrics`, `--otlp`), and the `--jwt` token.

use std::path::Path;

/// YAML double-quoted scalar.
pub fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// `telemetry:` for --no-metrics and --otlp (nothing by default: metrics on, no traces).
pub fn telemetry_yaml(no_metrics: bool, otlp: Option<&str>, sample_ratio: f64) -> String {
    let mut yaml = String::new();
    if no_metrics || otlp.is_some() {
        yaml.push_str(&format!("telemetry:\n  metrics: {}\n", !no_metrics));
    }
    if let Some(endpoint) = otlp {
        yaml.push_str(&format!(
            "  sample_ratio: {}\n  otlp:\n    endpoint: {}\n",
            sample_ratio,
            yaml_string(endpoint)
        ));
    }
    yaml
}

/// A throwaway Ed25519 key for `--jwt` (benchmark only, PKCS#8 DER; its public half is
/// [`BENCH_X`]).
const BENCH_KEY: [u8; 48] = [
    48, 46, 2, 1, 0, 48, 5, 6, 3, 43, 101, 112, 4, 34, 4, 32, 216, 140, 174, 117, 237, 165, 58, 20,
    6, 243, 243, 103, 137, 228, 187, 59, 108, 237, 165, 42, 106, 92, 131, 100, 253, 187, 64, 190,
    8, 154, 51, 31,
];
const BENCH_X: &str = "xlnFk-riM-dC8X9eOTyDvKe0Lcs9KyrqZ-wNFmEoP2M";

/// `serve.auth.jwt` for `--jwt`, with the JWKS written next to the config.
pub fn jwt_yaml(dir: &Path, audit: bool) -> anyhow::Result<String> {
    let jwks = dir.join("bench-jwks.json");
    let set = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": BENCH_X, "kid": "bench", "alg": "EdDSA", "use": "sig"}]});
    std::fs::write(&jwks, set.to_string())?;
    let store = dir.join("bench-audit.db");
    Ok(format!(
        "serve:\n  auth:\n    jwt:\n      issuer: baton-bench\n      audience: baton-bench\n      algorithms: [EdDSA]\n      jwks_file: {}\nstore:\n  path: {}\naudit:\n  enabled: {audit}\n",
        yaml_string(&jwks.display().to_string()),
        yaml_string(&store.display().to_string()),
    ))
}

/// A token for `--jwt`, valid for an hour.
pub fn bench_token() -> anyhow::Result<String> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("bench".to_owned());
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims =
        serde_json::json!({"iss": "baton-bench", "aud": "baton-bench", "sub": "bench", "exp": exp});
    let key = jsonwebtoken::EncodingKey::from_ed_der(&BENCH_KEY);
    Ok(jsonwebtoken::encode(&header, &claims, &key)?)
}
