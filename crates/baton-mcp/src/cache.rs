//! The opt-in result cache for read-only tools (moka): keyed by server, the server's
//! catalog generation (so a tools/list change invalidates it), tool and canonical JSON of
//! the arguments. Only complete results without `isError` are kept.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use rmcp::model::CallToolResult;
use serde_json::Value;

/// Longest any entry lives, whatever its configured time.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const MAX_ENTRIES: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub server: String,
    pub generation: u64,
    pub tool: String,
    pub arguments: String,
}

struct Entry {
    expires: Instant,
    result: CallToolResult,
}

pub struct ResultCache {
    entries: moka::sync::Cache<CacheKey, Arc<Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for ResultCache {
    fn default() -> Self {
        ResultCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(MAX_TTL)
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

impl ResultCache {
    pub fn get(&self, key: &CacheKey) -> Option<CallToolResult> {
        let found = self
            .entries
            .get(key)
            .filter(|entry| entry.expires > Instant::now())
            .map(|entry| entry.result.clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn put(&self, key: CacheKey, ttl: Duration, result: &CallToolResult) {
        if result.is_error == Some(true) {
            return;
        }
        self.entries.insert(
            key,
            Arc::new(Entry {
                expires: Instant::now() + ttl.min(MAX_TTL),
                result: result.clone(),
            }),
        );
    }

    /// (hits, misses, entries)
    pub fn counters(&self) -> (u64, u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.entries.entry_count(),
        )
    }
}

/// JSON with object keys sorted at every level, so equal arguments give equal keys.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key.clone(), sorted(value)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use rmcp::model::ContentBlock;
    use serde_json::json;

    use super::*;

    fn key(arguments: &Value) -> CacheKey {
        CacheKey {
            server: "s".into(),
            generation: 1,
            tool: "t".into(),
            arguments: canonical_json(arguments),
        }
    }

    #[test]
    fn argument_order_does_not_matter() {
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": {"d": 2, "c": [3, {"f": 4, "e": 5}]}})),
            canonical_json(&json!({"a": {"c": [3, {"e": 5, "f": 4}], "d": 2}, "b": 1}))
        );
    }

    #[test]
    fn hits_misses_expiry_and_errors() {
        let cache = ResultCache::default();
        let ok = CallToolResult::success(vec![ContentBlock::text("x")]);
        assert!(cache.get(&key(&json!({"a": 1}))).is_none());
        cache.put(key(&json!({"a": 1})), Duration::from_secs(60), &ok);
        assert!(cache.get(&key(&json!({"a": 1}))).is_some());
        cache.put(key(&json!({"a": 2})), Duration::ZERO, &ok);
        assert!(
            cache.get(&key(&json!({"a": 2}))).is_none(),
            "expired at once"
        );
        cache.put(
            key(&json!({"a": 3})),
            Duration::from_secs(60),
            &CallToolResult::error(vec![ContentBlock::text("no")]),
        );
        assert!(
            cache.get(&key(&json!({"a": 3}))).is_none(),
            "errors are not cached"
        );
        let (hits, misses, _) = cache.counters();
        assert_eq!((hits, misses), (1, 3));
    }
}
