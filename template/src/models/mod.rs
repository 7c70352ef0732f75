//! Storage: one sea-orm entity per table. Only controllers (and `auth`, for the API keys) use these.
pub mod api_key;
pub mod person;
pub mod task;
