//! `baton timing show|import|export`, `baton memory show|import|export`, `baton modes`:
//! the built-in tools' state from the command line, and its file formats.

use std::{path::PathBuf, process::ExitCode};

use baton_builtins::{memory, timing};
use baton_store::Store;

use crate::cli::{MemoryCommand, TimingCommand};

async fn open(config_flag: Option<PathBuf>) -> Result<(baton_core::Config, Store), ExitCode> {
    let config = super::load_config(config_flag.as_deref())?;
    let store = super::store_of(&config).await?;
    Ok((config, store))
}

fn write_out(output: Option<PathBuf>, text: &str) -> ExitCode {
    match output {
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(&path, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: cannot write {}: {error}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}

/// Prints an import's report; exit 1 when some lines were not imported, 2 when the file
/// could not be.
fn import_report<E: std::fmt::Display>(
    file: &std::path::Path,
    result: Result<(bool, serde_json::Value), E>,
) -> ExitCode {
    match result {
        Ok((clean, report)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("error: {}: {error}", file.display());
            ExitCode::from(2)
        }
    }
}

async fn export_memory(
    store: &Store,
    name: &str,
    settings: &dyn Fn(&str) -> memory::MemorySettings,
    output: Option<PathBuf>,
) -> ExitCode {
    match memory::export_markdown(store, &settings(name), name).await {
        Ok(text) => write_out(output, &text),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn read(file: &PathBuf) -> Result<String, ExitCode> {
    std::fs::read_to_string(file).map_err(|error| {
        eprintln!("error: cannot read {}: {error}", file.display());
        ExitCode::from(2)
    })
}

pub async fn timing(config_flag: Option<PathBuf>, command: TimingCommand) -> ExitCode {
    let (_, store) = match open(config_flag).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    match command {
        TimingCommand::Show {
            mode,
            from,
            to,
            json,
        } => {
            let filter = timing::Filter {
                mode,
                from,
                to,
                ..Default::default()
            };
            match timing::query(&store, filter).await {
                Ok(report) if json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&report).unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Ok(report) => {
                    println!(
                        "{:<20} {:<28} {:<10} {:>10}  RESULT  TASK",
                        "START", "TASK ID", "MODE", "SECONDS"
                    );
                    for entry in &report.entries {
                        println!(
                            "{:<20} {:<28} {:<10} {:>10}  {}  {}",
                            entry.start.get(..19).unwrap_or(&entry.start),
                            entry.task_id,
                            entry.mode,
                            entry
                                .duration_ms
                                .map_or("-".to_owned(), |ms| (ms / 1000).to_string()),
                            entry.result,
                            entry.task
                        );
                    }
                    println!(
                        "{}",
                        serde_json::to_string(&report.by_mode).unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(2)
                }
            }
        }
        TimingCommand::Import { file } => {
            let text = match read(&file) {
                Ok(text) => text,
                Err(code) => return code,
            };
            let result = timing::import_tsv(&store, &text).await;
            import_report(
                &file,
                result.map(|r| {
                    (
                        r.errors.is_empty(),
                        serde_json::to_value(&r).unwrap_or_default(),
                    )
                }),
            )
        }
        TimingCommand::Export { output } => {
            match timing::export_tsv(&store, &timing::Filter::default()).await {
                Ok(text) => write_out(output, &text),
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

pub async fn memory(config_flag: Option<PathBuf>, command: MemoryCommand) -> ExitCode {
    let (config, store) = match open(config_flag).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let name = |given: Option<String>| given.unwrap_or_else(|| config.memory.default.clone());
    let settings = |memory: &str| baton_app::sets::state::memory_settings(&config, memory);
    match command {
        MemoryCommand::Show { memory }
        | MemoryCommand::Export {
            memory,
            output: None,
        } => export_memory(&store, &name(memory), &settings, None).await,
        MemoryCommand::Export {
            memory,
            output: Some(output),
        } => export_memory(&store, &name(memory), &settings, Some(output)).await,
        MemoryCommand::Import { file, memory } => {
            let text = match read(&file) {
                Ok(text) => text,
                Err(code) => return code,
            };
            let memory = name(memory);
            let result = memory::import_markdown(&store, &settings(&memory), &memory, &text).await;
            import_report(
                &file,
                result.map(|r| {
                    (
                        r.errors.is_empty(),
                        serde_json::to_value(&r).unwrap_or_default(),
                    )
                }),
            )
        }
    }
}

pub fn modes(config_flag: Option<PathBuf>, json: bool) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let list: Vec<serde_json::Value> = config.modes.iter().map(|mode| mode.to_json()).collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    if list.is_empty() {
        println!("no modes (declare them under modes: in baton.yaml, or modes.import: .roomodes)");
    }
    for mode in &config.modes {
        let groups: Vec<String> = mode
            .groups
            .iter()
            .map(|rule| match &rule.file_regex {
                Some(regex) => format!("{} ({})", rule.group.as_str(), regex.as_str()),
                None => rule.group.as_str().to_owned(),
            })
            .collect();
        println!(
            "{:<24} {:<28} groups: {}",
            mode.slug,
            mode.name,
            groups.join(", ")
        );
    }
    ExitCode::SUCCESS
}
