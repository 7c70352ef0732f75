//! The layers around the routes, one file each: what a request goes through before and
//! after its handler. `app::router` stacks them around the whole service, in their order
//! and with tower-http's own (trace, timeout, panics, body limit); `api::router` puts
//! those that read the routes' documentation (`auth`) or guard the API's routes only
//! (`outage`) around the routes.
pub mod auth;
pub mod count;
pub mod drain;
pub mod outage;
pub mod request_id;
pub mod shed;
pub mod span;
