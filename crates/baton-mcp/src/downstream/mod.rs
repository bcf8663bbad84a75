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

/// MCP's headers as names known ahead: looking a header up by a string parses the string
/// into a name first, on every request.
pub(crate) const MCP_SESSION_ID: ::http::HeaderName =
    ::http::HeaderName::from_static("mcp-session-id");
pub(crate) const MCP_PROTOCOL_VERSION: ::http::HeaderName =
    ::http::HeaderName::from_static("mcp-protocol-version");
