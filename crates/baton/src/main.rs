//! The `baton` binary: parse the command line, set up logging, run one subcommand.

#![forbid(unsafe_code)]

mod cli;
mod commands;

use clap::Parser;

/// mimalloc: a gateway allocates and frees many small buffers per message; measured in
/// BENCHMARKS.md against the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    cli::init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.worker_threads())
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(commands::run(cli));
    baton_app::telemetry::shutdown();
    code
}
