//! Storage: one sea-orm entity per table. Only controllers use these.
pub mod person;
pub mod task;
