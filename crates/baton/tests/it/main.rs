//! Baton's integration tests: the real binary against real MCP peers and clients.

mod common;

mod aggregation;
mod audit;
mod auth;
mod auth_limits;
mod bad_input;
mod boundaries;
mod builtins;
mod cli;
mod clients;
mod conformance;
mod core;
mod dashboard;
mod derived;
mod dialects;
mod doctor;
mod faults;
mod hangs;
mod health;
mod isolation;
mod limits;
mod logs;
mod metrics;
mod oauth;
mod orchestration;
mod queue;
mod relay;
mod reload;
mod resilience;
mod schedules;
mod store;
mod traces;
mod triggers;
mod workers;
mod workflows;
