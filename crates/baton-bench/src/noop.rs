//! A tool that answers at once: the benchmarks measure the engine and the store, not a
//! tool. Included by the benchmark binaries (`#[path]`).

use baton_engine::{CallOptions, ToolCaller, ToolFailure, ToolOutput};
use futures::future::BoxFuture;
use serde_json::Value;

/// Answers every call with its arguments.
pub struct Noop;

impl ToolCaller for Noop {
    fn call<'a>(
        &'a self,
        _tool: &'a str,
        args: Value,
        _options: CallOptions,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        Box::pin(async move {
            Ok(ToolOutput {
                value: args,
                is_error: false,
            })
        })
    }
}
