//! The domain's integration tests, one binary: the stage machine walked by hand (`machine`), its
//! properties over random sequences (`properties`), and the generators against the template
//! itself (`template`).

mod common;

mod health;
mod machine;
mod properties;
mod template;
