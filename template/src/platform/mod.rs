//! Speed-ups behind plain interfaces, so that the views, controllers, metrics and logs read
//! as plain code: the SQL of the busiest reads built once ([`sql`]), random ids without a
//! system call ([`ids`]), names looked up without a lock ([`keyed`]), JSON log lines
//! written straight into the line ([`json_log`]). Nothing here knows the service's own
//! modules.
#[cfg(test)]
pub mod captured;
pub mod ids;
pub mod json_log;
pub mod keyed;
pub mod sql;
