//! `baton audit [--principal P] [--tool GLOB] [--since WHEN] [--limit N] [--json]`: the
//! audit trail of downstream clients' tool calls, prompt gets and resource reads, newest
//! first.

use std::{path::PathBuf, process::ExitCode};

use baton_store::{AuditFilter, AuditRow};
use serde_json::json;

use crate::cli::AuditArgs;

pub async fn run(config_flag: Option<PathBuf>, args: AuditArgs) -> ExitCode {
    let since_ms = match args.since.as_deref().map(parse_since).transpose() {
        Ok(since) => since,
        Err(message) => {
            eprintln!("error: --since: {message}");
            return ExitCode::from(2);
        }
    };
    let store = match super::runs::open_store(config_flag).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let filter = AuditFilter {
        principal: args.principal,
        name: args.tool,
        since_ms,
        limit: Some(args.limit.max(1)),
    };
    let rows = match store.audit(&filter).await {
        Ok(rows) => rows,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        for row in &rows {
            println!("{}", to_json(row));
        }
        return ExitCode::SUCCESS;
    }
    if rows.is_empty() {
        println!("no audit records match");
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<23}  {:<16} {:<8} {:<36} {:<11} {:>8}  ARGS",
        "TIME", "PRINCIPAL", "KIND", "NAME", "OUTCOME", "MS"
    );
    for row in &rows {
        println!(
            "{:<23}  {:<16} {:<8} {:<36} {:<11} {:>8}  {}",
            time(row.at),
            row.principal.as_deref().unwrap_or("-"),
            row.kind,
            row.name,
            row.outcome,
            row.duration_ms,
            row.arguments_sha256
                .as_deref()
                .map_or("-", |hash| &hash[..hash.len().min(12)]),
        );
    }
    ExitCode::SUCCESS
}

fn to_json(row: &AuditRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "at": time(row.at),
        "at_ms": row.at,
        "principal": row.principal,
        "kind": row.kind,
        "name": row.name,
        "outcome": row.outcome,
        "duration_ms": row.duration_ms,
        "arguments_sha256": row.arguments_sha256,
    })
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| {
            at.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// `--since`: a duration back from now (`90s`, `30m`, `24h`, `7d`) or an RFC 3339 time.
fn parse_since(text: &str) -> Result<i64, String> {
    if let Some(ago) = baton_core::config::parse_duration(text) {
        let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
        return Ok(baton_store::now_ms().saturating_sub(ago));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.timestamp_millis())
        .map_err(|_| {
            format!(
                "\"{text}\" is neither a duration (30m, 24h, 7d) nor a time (2026-12-05T10:00:00Z)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_or_a_time() {
        let now = baton_store::now_ms();
        let hour_ago = parse_since("1h").unwrap();
        assert!((now - 3_600_000 - hour_ago).abs() < 5_000);
        assert_eq!(
            parse_since("2026-12-05T10:00:00Z").unwrap(),
            1_796_464_800_000
        );
        assert!(parse_since("yesterday").unwrap_err().contains("yesterday"));
    }
}
