//! The `pretty` log format (dev), with the source location (`at src/...:LINE`) under the
//! service's own events only: under a library's it is a path into the cargo registry, a
//! line more to read past on every event.
use std::fmt;

use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::{Format, Pretty, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// tracing-subscriber's pretty layout, located for the service's own events.
pub struct OwnLocations {
    located: Format<Pretty>,
    unlocated: Format<Pretty>,
}

impl Default for OwnLocations {
    fn default() -> Self {
        let pretty = tracing_subscriber::fmt::format().pretty();
        Self {
            located: pretty.clone(),
            unlocated: pretty.with_source_location(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for OwnLocations
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Records bridged from the `log` crate carry their own module.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let format = if meta.module_path().is_some_and(is_own) {
            &self.located
        } else {
            &self.unlocated
        };
        format.format_event(ctx, writer, event)
    }
}

/// Whether `module` (such as `api::v1` below the crate) is the service's code: its library's
/// or its binary's.
fn is_own(module: &str) -> bool {
    module
        .strip_prefix(env!("CARGO_CRATE_NAME"))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::platform::captured::Lines;

    #[test]
    fn the_service_s_modules_are_its_own_and_no_others() {
        let own = env!("CARGO_CRATE_NAME");
        assert!(is_own(own));
        assert!(is_own(&format!("{own}::api::v1")));
        let longer = format!("{own}x");
        for other in [
            "sqlx::query",
            "hyper",
            "tower_http::trace",
            "",
            longer.as_str(),
        ] {
            assert!(!is_own(other), "{other}");
        }
    }

    #[test]
    fn own_events_show_where_they_were_written() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(lines.clone())
                .with_ansi(false)
                .pretty()
                .event_format(OwnLocations::default()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("ours");
            // A library's record, as the `log` crate hands it over.
            let record = tracing::log::Record::builder()
                .level(tracing::log::Level::Info)
                .target("sqlx::query")
                .module_path(Some("sqlx::query"))
                .file(Some("/cargo/registry/src/sqlx/src/query.rs"))
                .line(Some(7))
                .args(format_args!("theirs"))
                .build();
            tracing_log::format_trace(&record).expect("dispatched");
        });
        let text = lines.take();
        let (ours, theirs) = text.split_once("theirs").expect("both events");
        assert!(ours.contains(&format!("at {}:", file!())), "{text}");
        assert!(!theirs.contains("registry"), "{text}");
    }
}
