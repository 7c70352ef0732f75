//! Speed-ups behind plain interfaces, so that the controllers and views read as plain
//! sea-orm and axum code. Nothing here knows the service's own modules.
pub mod sql;
