//! Pieces shared by several pages.

pub mod audit;
pub mod change_lock;
pub mod chart;
pub mod island_form;
pub mod layout;
pub mod region;
pub mod rollout;
pub mod shared_html;
pub mod status;
pub mod time;
pub mod timeline;
