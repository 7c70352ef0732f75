//! What the tests share.
pub mod background;
pub mod helpers;
pub mod listeners;
pub mod service;
pub mod test_tasks;
