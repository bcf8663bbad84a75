//! Baton's built-in tool sets as plain Rust, with no MCP in sight: the gateway
//! (`baton-mcp/src/builtin/`) gives each function an MCP tool with its schema and
//! annotations.
//!
//! - [`files`]: project files sandboxed to a root (read, atomic write with backups, list,
//!   search, backup, restore); no path escapes the root.
//! - [`memory`]: named persistent memories with sections, a line cap with archiving, and
//!   the markdown format as import/export.
//! - [`timing`]: task time tracking (start/stop, summaries) and the `task_timing.tsv` format.
//! - [`todo`]: a TODO.md parsed into sections with done/total.

#![forbid(unsafe_code)]

pub mod files;
pub mod memory;
pub mod timing;
pub mod todo;
