//! Baton's MCP plumbing: upstream connections ([`upstream`]), the aggregated catalog
//! ([`catalog`]), the gateway that routes requests ([`gateway`]), Baton's built-in tools
//! ([`builtin`]) and the downstream server facade with its transports ([`downstream`]).

#![forbid(unsafe_code)]

pub mod automation;
pub mod bridge;
pub mod builtin;
pub mod cache;
pub mod catalog;
pub mod downstream;
pub mod error;
pub mod gateway;
pub mod upstream;
pub mod workflows;

pub use gateway::{Gateway, GatewayEvent, ReloadReport, Topology};
pub use rmcp;
