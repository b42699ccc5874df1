//! One file per route.

pub mod not_found;
pub mod portfolio;
pub mod profile;
pub mod sign_in;
pub mod users;
