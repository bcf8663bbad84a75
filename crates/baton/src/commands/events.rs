//! `baton events [--type T] [--after ID] [--limit N] [--follow] [--json]`.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use baton_automation::Event;
use baton_core::schedule::EventKind;

use crate::cli::EventsArgs;

pub async fn run(config_flag: Option<PathBuf>, args: EventsArgs) -> ExitCode {
    if let Some(kind) = &args.kind
        && EventKind::parse(kind).is_none()
    {
        eprintln!(
            "error: unknown event type \"{kind}\": use one of {}",
            EventKind::names()
        );
        return ExitCode::from(2);
    }
    let store = match super::runs::open_store(config_flag).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let mut after = args.after.unwrap_or(0);
    let mut newest = args.after.is_none();
    loop {
        let rows = match store
            .events(args.kind.as_deref(), after, args.limit.max(1), newest)
            .await
        {
            Ok(rows) => rows,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        for event in rows.into_iter().filter_map(Event::from_row) {
            after = after.max(event.id);
            if args.json {
                println!("{}", event.to_json());
            } else {
                let data: Vec<String> = event
                    .data
                    .iter()
                    .filter(|(_, value)| !value.is_null())
                    .map(|(key, value)| match value {
                        serde_json::Value::String(text) => format!("{key}={text}"),
                        other => format!("{key}={other}"),
                    })
                    .collect();
                println!(
                    "{:>6}  {}  {:<18} {}",
                    event.id,
                    event.at.format("%Y-%m-%d %H:%M:%S%.3f"),
                    event.kind.as_str(),
                    data.join(" ")
                );
            }
        }
        if !args.follow {
            return ExitCode::SUCCESS;
        }
        newest = false;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
