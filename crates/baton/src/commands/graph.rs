//! `baton graph WORKFLOW [--format mermaid|dot]`.

use std::{path::PathBuf, process::ExitCode};

use baton_core::workflow::{self, Workflow};

use crate::cli::{GraphArgs, GraphFormat};

pub fn run(config_flag: Option<PathBuf>, args: GraphArgs) -> ExitCode {
    let workflow = match find(config_flag, &args.workflow) {
        Ok(workflow) => workflow,
        Err(code) => return code,
    };
    let drawing = match args.format {
        GraphFormat::Mermaid => workflow::graph::mermaid(&workflow),
        GraphFormat::Dot => workflow::graph::dot(&workflow),
    };
    print!("{drawing}");
    ExitCode::SUCCESS
}

/// A workflow by name from the configuration, or from a file given by path.
pub fn find(config_flag: Option<PathBuf>, wanted: &str) -> Result<Workflow, ExitCode> {
    let config = super::load_config(config_flag.as_deref())?;
    let path = std::path::Path::new(wanted);
    if path.is_file() {
        return super::validate::compile_file(&config, path);
    }
    match config.workflow(wanted) {
        Some(workflow) => Ok(workflow.clone()),
        None => {
            let known: Vec<&str> = config
                .workflows
                .definitions
                .iter()
                .map(|workflow| workflow.name.as_str())
                .collect();
            eprintln!(
                "error: no workflow \"{wanted}\" (known: {}; workflow files are read from {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                },
                config.workflows.dir.display()
            );
            Err(ExitCode::from(2))
        }
    }
}
