//! The audit trail (migration 6 on SQLite, 2 on PostgreSQL): one row per tool call, prompt
//! get or resource read of a downstream client, with its principal, outcome, duration and
//! a SHA-256 of its arguments (never the arguments). Written in batches by the application;
//! pruned by age.

use crate::Result;

/// An audit record to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    /// When the use started (ms since the Unix epoch).
    pub at: i64,
    pub principal: Option<String>,
    /// `tool`, `prompt` or `resource`.
    pub kind: String,
    pub name: String,
    pub outcome: String,
    pub duration_ms: i64,
    pub arguments_sha256: Option<String>,
}

/// An audit record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub principal: Option<String>,
    pub kind: String,
    pub name: String,
    pub outcome: String,
    pub duration_ms: i64,
    pub arguments_sha256: Option<String>,
}

/// Which records [`AuditStore::audit`] reads; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub principal: Option<String>,
    /// A glob over names (`*` any run of characters, `?` one character).
    pub name: Option<String>,
    /// Records at or after this time (ms).
    pub since_ms: Option<i64>,
    /// The newest this many (default 100).
    pub limit: Option<u32>,
}

feature! {
    /// The audit trail, as every backend keeps it.
    AuditStore {
        /// Appends records, in one transaction.
        fn insert_audit(&self, records: &[NewAudit]) -> Result<()>;
        /// Records matching `filter`, newest first.
        fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>>;
        /// Deletes records older than `before_ms`; how many went.
        fn prune_audit(&self, before_ms: i64) -> Result<u64>;
    }
}

/// Whether `name` matches the glob `pattern` (`*`, `?`).
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|skip| go(rest, &n[skip..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// The glob as a SQL `LIKE` pattern (escape `\`), for narrowing before [`glob_matches`].
pub(crate) fn glob_to_like(pattern: &str) -> String {
    let mut like = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' => like.push('%'),
            '?' => like.push('_'),
            '%' | '_' | '\\' => {
                like.push('\\');
                like.push(c);
            }
            c => like.push(c),
        }
    }
    like
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names() {
        assert!(glob_matches("fault__*", "fault__echo"));
        assert!(glob_matches("*__write_*", "fs__write_file"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("fault__*", "other__echo"));
        assert!(!glob_matches("a?c", "ac"));
        assert_eq!(glob_to_like("a_b*%?"), "a\\_b%\\%_");
    }
}
