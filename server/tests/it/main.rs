//! The server's integration tests, one binary (linking one is much faster than linking ten): each
//! module drives a running Rampart over HTTP, or its binary, against a database of its own.
//! Set `TEST_LOG=1` to see the servers' logs.

mod helpers;

mod access;
mod api;
mod auth;
mod change_lock;
mod cli;
mod config;
mod crash;
mod demo;
mod drive;
mod flags;
mod gitlab_fake;
mod guardrail;
mod health;
mod kept;
mod logs;
mod notifications;
mod overdue;
mod pages;
mod panels;
mod prometheus;
mod real_prometheus;
mod reports;
mod rollouts;
mod secrets;
mod sentry;
mod sso;
mod unleash;
