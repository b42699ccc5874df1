//! Rampart's isomorphic Leptos app: the same components render on the server and hydrate in the browser.
//!
//! Server functions live in `api/` and are thin adapters over services the server provides through
//! context (see [`api::services`]); pages in `pages/`, one route each; shared pieces in `components/`.

pub mod api;
pub mod components;
pub mod error;
pub mod pages;
mod root;

pub use root::{App, shell};
