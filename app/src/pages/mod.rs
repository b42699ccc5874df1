//! One file per route.

pub mod audit;
pub mod history;
pub mod migration;
pub mod migration_form;
pub mod not_found;
pub mod portfolio;
pub mod profile;
pub mod sign_in;
pub mod users;
