//! Rampart's server: configuration, telemetry, the Postgres store, HTTP routes, and the Leptos app.

pub mod api;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod flags;
pub mod guardrail;
pub mod http;
pub mod notify;
pub mod observability;
pub mod outbound;
pub mod overdue;
pub mod rollouts;
pub mod startup;
pub mod state;
pub mod telemetry;
