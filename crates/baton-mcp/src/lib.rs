//! Baton's MCP plumbing: upstream connections ([`upstream`]), the aggregated catalog
//! ([`catalog`]), the gateway that routes requests ([`gateway`]), the seam for tools Baton
//! answers itself ([`toolset`]) and the downstream server facade with its transports
//! ([`downstream`]). It knows nothing of the engine, schedules or the store.

#![forbid(unsafe_code)]

pub mod audit;
pub mod bridge;
pub mod cache;
pub mod catalog;
pub mod downstream;
pub mod error;
pub mod gateway;
pub mod lines;
pub mod metrics;
pub mod oauth;
pub mod tasks;
pub mod toolset;
pub mod trace;
pub mod upstream;

pub use gateway::{CallContext, Gateway, GatewayEvent, ReloadReport, SessionScope, Topology};
pub use rmcp;
pub use toolset::{ToolContext, ToolSet};
