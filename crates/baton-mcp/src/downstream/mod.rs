//! Baton as an MCP server: the [`handler::DownstreamSession`] facade every transport
//! shares, served over stdio ([`stdio`]), streamable HTTP and legacy SSE ([`http`], [`sse`]).

pub mod auth;
pub mod browser;
mod direct;
pub mod handler;
pub mod http;
pub mod legacy_tasks;
pub mod parking;
pub mod sessions;
pub mod sse;
mod stateless;
pub mod stdio;
mod tasks;

pub use handler::DownstreamSession;
