//! Rampart's Leptos app, in islands: pages render on the server, whole; only the islands (the
//! interactive parts: filter, charts, copy buttons, a few forms) and the page's script
//! (`browser/`) run in the browser.
//!
//! Server functions live in `api/` and are thin adapters over services the server provides through
//! context (see [`api::services`]); pages in `pages/`, one route each; shared pieces in `components/`.

pub mod api;
#[cfg(feature = "hydrate")]
mod browser;
pub mod components;
pub mod error;
pub mod pages;
mod root;

pub use root::{App, beside_server, shell};
