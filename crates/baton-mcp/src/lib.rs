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
pub mod future;
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

/// A hash map for the maps every proxied call looks names up in (the catalog's routes, the
/// topology's replicas, the relay's progress tokens): foldhash instead of SipHash, which was
/// ~3 % of a call's instructions. Their keys come from the configuration and the upstreams,
/// or are looked up only, so flooding them is not a concern.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
