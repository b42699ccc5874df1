//! Server functions, grouped by domain. Each is a thin adapter: find the service the server provided,
//! call it, and let the error's status reach the HTTP response.

pub mod audit;
pub mod change_lock;
#[cfg(all(test, feature = "ssr"))]
pub mod fakes;
pub mod history;
pub mod migration;
pub mod migration_form;
pub mod panels;
pub mod portfolio;
#[cfg(feature = "ssr")]
pub mod services;
pub mod session;
pub mod tokens;
pub mod users;
