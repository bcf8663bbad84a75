//! Exposed names. Clients reject tool names outside `^[a-zA-Z0-9_-]{1,64}$`, so every name
//! Baton exposes is made to fit: invalid characters become `_`, and a name that had to be
//! changed or shortened gets a stable hash suffix of its original form, so two different
//! originals never collapse into the same exposed name by accident.

use sha2::{Digest, Sha256};

/// Longest tool name clients accept.
pub const MAX_TOOL_NAME: usize = 64;
const HASH_HEX: usize = 8;

/// Whether `name` is a tool name every client accepts.
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOOL_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `prefix + separator + local`, made valid. Deterministic: the same inputs always give the
/// same output.
pub fn namespaced_tool_name(prefix: &str, separator: &str, local: &str) -> String {
    fit_tool_name(&format!("{prefix}{separator}{local}"))
}

/// Makes `wanted` a valid tool name, unchanged when it already is one.
pub fn fit_tool_name(wanted: &str) -> String {
    if is_valid_tool_name(wanted) {
        return wanted.to_owned();
    }
    let cleaned: String = wanted
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    with_hash_suffix(&cleaned, wanted)
}

/// `base` shortened so that `base_<hash of identity>` fits in 64 characters.
pub fn with_hash_suffix(base: &str, identity: &str) -> String {
    let hash = short_hash(identity);
    let keep = MAX_TOOL_NAME - HASH_HEX - 1;
    let base: String = base.chars().take(keep).collect();
    let base = if base.is_empty() { "tool" } else { &base };
    format!("{base}_{hash}")
}

/// The first 8 hex digits of SHA-256 of `text`.
pub fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest
        .iter()
        .take(HASH_HEX / 2)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The prefix for a server's names: its configured name with invalid characters replaced.
pub fn server_prefix(server: &str) -> String {
    server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Prompts have no character rule in the spec, but clients show them as commands: the same
/// `server__name` scheme is used, without the length rule.
pub fn namespaced_prompt_name(prefix: &str, separator: &str, local: &str) -> String {
    format!("{prefix}{separator}{local}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_kept() {
        assert_eq!(
            namespaced_tool_name("git", "__", "git_status"),
            "git__git_status"
        );
        assert!(is_valid_tool_name("a-b_C9"));
        assert!(!is_valid_tool_name(""));
        assert!(!is_valid_tool_name("a.b"));
        assert!(!is_valid_tool_name(&"x".repeat(65)));
    }

    #[test]
    fn invalid_names_are_fixed_with_a_stable_suffix() {
        let dotted = namespaced_tool_name("docs", "__", "search.query");
        assert!(is_valid_tool_name(&dotted), "{dotted}");
        assert!(dotted.starts_with("docs__search_query_"), "{dotted}");
        assert_eq!(dotted, namespaced_tool_name("docs", "__", "search.query"));
        // `search_query` itself is valid and keeps its name, so the two never collide.
        assert_ne!(dotted, namespaced_tool_name("docs", "__", "search_query"));
    }

    #[test]
    fn long_names_are_shortened_deterministically() {
        let long = "a".repeat(80);
        let first = namespaced_tool_name("server", "__", &long);
        let second = namespaced_tool_name("server", "__", &format!("{long}b"));
        assert_eq!(first.len(), MAX_TOOL_NAME);
        assert!(is_valid_tool_name(&first));
        assert_ne!(first, second, "distinct originals must stay distinct");
        assert_eq!(first, namespaced_tool_name("server", "__", &long));
    }

    #[test]
    fn unicode_is_replaced() {
        let name = namespaced_tool_name("médias", "__", "über");
        assert!(is_valid_tool_name(&name), "{name}");
    }
}
