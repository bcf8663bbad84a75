//! `baton store status|migrate|copy` and `baton workers`.

use std::{path::PathBuf, process::ExitCode};

use baton_store::Store;
use serde_json::{Value, json};

use crate::cli::StoreCommand;

pub async fn run(config_flag: Option<PathBuf>, command: StoreCommand) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match command {
        StoreCommand::Status { json } => status(&config, json).await,
        StoreCommand::Migrate => migrate(&config).await,
        StoreCommand::Copy { from, to } => copy(&config, from, &to).await,
    }
}

async fn status(config: &baton_core::Config, json: bool) -> ExitCode {
    let store = match super::store_of(config).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let (applied, latest) = match store.schema_version().await {
        Ok(versions) => versions,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let workers = store.workers().await.map(|w| w.len()).unwrap_or(0);
    if json {
        let status = json!({
            "backend": store.backend_name(),
            "location": store.location(),
            "schema_version": applied,
            "latest_version": latest,
            "workers": workers,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&status).unwrap_or_default()
        );
    } else {
        println!("backend:         {}", store.backend_name());
        println!("location:        {}", store.location());
        println!("schema version:  {applied} (this Baton knows up to {latest})");
        println!("workers:         {workers}");
    }
    ExitCode::SUCCESS
}

/// Opening applies the migrations (under the backend's lock); this says what it did.
async fn migrate(config: &baton_core::Config) -> ExitCode {
    let location = baton_app::store::describe(config);
    let store = match super::store_of(config).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    match store.schema_version().await {
        Ok((applied, _)) => {
            println!("{location}: schema version {applied}, up to date");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn copy(config: &baton_core::Config, from: Option<String>, to: &str) -> ExitCode {
    let limit = config.workflows.inline_output_limit;
    let source = match &from {
        Some(url) => {
            if let Err(problem) = baton_core::config::check_store_url(url) {
                eprintln!("error: --from: {problem}");
                return ExitCode::from(2);
            }
            if let Some(path) = url.strip_prefix("sqlite:")
                && !std::path::Path::new(path.strip_prefix("//").unwrap_or(path)).exists()
            {
                eprintln!("error: --from: no SQLite store at {path}");
                return ExitCode::from(2);
            }
            baton_app::store::open_url(url, limit).await
        }
        None => {
            if !config.store.path.exists() {
                eprintln!(
                    "error: no SQLite store at {} to copy (give --from sqlite:PATH)",
                    config.store.path.display()
                );
                return ExitCode::from(2);
            }
            Store::open(&config.store.path, limit).await
        }
    };
    let source = match source {
        Ok(store) => store,
        Err(error) => {
            eprintln!("error: cannot open the store to copy from: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(problem) = baton_core::config::check_store_url(to) {
        eprintln!("error: --to: {problem}");
        return ExitCode::from(2);
    }
    let target = match baton_app::store::open_url(to, limit).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("error: cannot open the store to copy into: {error}");
            return ExitCode::FAILURE;
        }
    };
    match source.copy_into(&target).await {
        Ok(report) => {
            println!("copied {} into {}:", source.location(), target.location());
            for (table, rows) in &report.tables {
                println!("  {table:16} {rows:>8}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

pub async fn workers(config_flag: Option<PathBuf>, json: bool) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let store = match super::store_of(&config).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let (workers, held) = match tokio::try_join!(store.workers(), store.running_by_owner()) {
        Ok(found) => found,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let rows: Vec<Value> = workers
        .iter()
        .map(|worker| {
            let lease = worker.info.get("lease_ms").and_then(Value::as_i64);
            let age = worker.now - worker.heartbeat_at;
            let runs = held
                .iter()
                .find(|(owner, _)| *owner == worker.id)
                .map(|(_, count)| *count)
                .unwrap_or(0);
            json!({
                "worker": worker.id,
                "started_at": worker.started_at,
                "heartbeat_at": worker.heartbeat_at,
                "heartbeat_age_ms": age,
                // A worker silent for longer than its lease has lost its runs to the others.
                "alive": lease.is_none_or(|lease| age <= lease),
                "runs": runs,
                "max_runs": worker.info.get("max_runs").cloned().unwrap_or(Value::Null),
                "version": worker.info.get("version").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    if rows.is_empty() {
        println!("no worker has served on {} yet", store.location());
        return ExitCode::SUCCESS;
    }
    println!(
        "{:40} {:>10} {:6} {:>5} {:>8}",
        "WORKER", "HEARTBEAT", "ALIVE", "RUNS", "MAX"
    );
    for row in &rows {
        println!(
            "{:40} {:>9.1}s {:6} {:>5} {:>8}",
            row["worker"].as_str().unwrap_or(""),
            row["heartbeat_age_ms"].as_i64().unwrap_or(0) as f64 / 1000.0,
            if row["alive"].as_bool().unwrap_or(false) {
                "yes"
            } else {
                "no"
            },
            row["runs"],
            match &row["max_runs"] {
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            }
        );
    }
    ExitCode::SUCCESS
}
