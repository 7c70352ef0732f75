//! `X-Request-Id`: the client's own when it is short and plain, else one made here. The id
//! is copied into every log line of the request, its Sentry tags and the rows of the tasks
//! it schedules, so a client's id is accepted only within [`MAX_LENGTH`] characters of
//! [`acceptable`]'s set.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::HeaderValue;
use tower::Service;

use crate::platform;

/// The header, lower-case as `http` keeps it.
pub const HEADER: &str = "x-request-id";

/// The longest client id kept: room for a UUID (36), a W3C `traceparent` (55) or trace id
/// (32), and the ids load balancers and gateways add (Kong's `uuid#counter`, ...).
pub const MAX_LENGTH: usize = 128;

/// Besides ASCII letters and digits, the characters a kept id may hold: none needs quoting
/// or escaping in a header, a JSON string, a `key=value` log line or a URL.
pub const PUNCTUATION: &[u8] = b"-_.:/+=#@";

/// How often, at most, a refused client id is logged.
const LOG_REFUSED_EVERY: Duration = Duration::from_secs(10);

/// Whether a client's `X-Request-Id` is kept: 1 to [`MAX_LENGTH`] ASCII letters, digits
/// and [`PUNCTUATION`].
pub fn acceptable(id: &[u8]) -> bool {
    (1..=MAX_LENGTH).contains(&id.len())
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || PUNCTUATION.contains(byte))
}

/// Gives each request an acceptable `X-Request-Id`: the client's if [`acceptable`], else
/// a new UUID v4 in its place (the refusal is logged, at most once every 10 s).
#[derive(Clone)]
pub struct SetRequestId<S>(pub S);

impl<S, B> Service<Request<B>> for SetRequestId<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let sent = request.headers().get(HEADER);
        if !sent.is_some_and(|id| acceptable(id.as_bytes())) {
            let refused = sent.map(HeaderValue::len);
            let id = generate();
            if let Some(length) = refused {
                note_refused(length, &id);
            }
            // Replaces every value the client sent.
            request.headers_mut().insert(HEADER, id);
        }
        self.0.call(request)
    }
}

/// Client ids refused since the last line that said so.
static REFUSED: AtomicU64 = AtomicU64::new(0);
/// When that line was written.
static LOGGED_AT: Mutex<Option<Instant>> = Mutex::new(None);

/// Says in the log that a client id was refused: at once, then at most once every
/// [`LOG_REFUSED_EVERY`] with how many were refused meanwhile, so that a client sending
/// bad ids cannot flood the logs. (The id itself is not logged.)
fn note_refused(length: usize, id: &HeaderValue) {
    let refused = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    // Another request is logging: this one is counted in its line or the next.
    let Ok(mut logged_at) = LOGGED_AT.try_lock() else {
        return;
    };
    let now = Instant::now();
    if logged_at.is_some_and(|at| now.duration_since(at) < LOG_REFUSED_EVERY) {
        return;
    }
    *logged_at = Some(now);
    REFUSED.fetch_sub(refused, Ordering::Relaxed);
    tracing::warn!(
        length,
        request_id = id.to_str().unwrap_or("-"),
        refused,
        "a client's X-Request-Id was not kept (more than {MAX_LENGTH} characters, or others \
         than letters, digits and {}): a new id is used; `refused` counts them since the last \
         such line",
        String::from_utf8_lossy(PUNCTUATION)
    );
}

/// A new id: a random UUID v4, with no system call per request.
pub fn generate() -> HeaderValue {
    let id = platform::ids::uuid_v4();
    let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut text);
    // A UUID's characters are all valid in a header.
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let ids: HashSet<String> = (0..10_000)
            .map(|_| generate().to_str().expect("ASCII").to_owned())
            .collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert_eq!(uuid.hyphenated().to_string(), *id);
            assert!(acceptable(id.as_bytes()), "ours pass our own rule: {id}");
        }
    }

    #[test]
    fn short_plain_ids_are_kept() {
        for id in [
            "5b0c3c9e-7d1f-4c7a-9a0e-2f6d8c1b3a4e", // a UUID
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // W3C traceparent
            "4bf92f3577b34da6a3ce929d0e0e4736",     // a trace id, nginx
            "9b5a7e34-3e0c-4b42-8d0f-0b2d3b7f4c11#42", // Kong's uuid#counter
            "Root=1-67891233-abcdef012345678912345678", // an AWS trace id
            "client-chosen-42",
            "healthcheck",
            "a",
        ] {
            assert!(acceptable(id.as_bytes()), "{id}");
        }
        assert!(acceptable("x".repeat(MAX_LENGTH).as_bytes()));
    }

    #[test]
    fn long_or_unplain_ids_are_refused() {
        let long = "x".repeat(MAX_LENGTH + 1);
        for id in [
            "",
            long.as_str(),
            "two words",
            "quote\"d",
            "back\\slash",
            "semi;colon",
            "comma,separated",
            "<script>",
            "tab\there",
            "caf\u{e9}",
        ] {
            assert!(!acceptable(id.as_bytes()), "{id:?}");
        }
        assert!(!acceptable(b"nul\0byte"));
        assert!(!acceptable(&[0xff, 0xfe]));
    }

    /// The id `service` passes on for a request sent with `id`.
    fn passed_on<S>(service: &mut SetRequestId<S>, id: Option<&str>) -> String
    where
        S: Service<Request<()>, Response = Option<HeaderValue>>,
        S::Error: std::fmt::Debug,
    {
        let mut request = Request::new(());
        if let Some(id) = id {
            let value = HeaderValue::from_str(id).expect("a header value");
            request.headers_mut().insert(HEADER, value);
        }
        let future = std::pin::pin!(service.call(request));
        match future.poll(&mut Context::from_waker(std::task::Waker::noop())) {
            Poll::Ready(Ok(Some(id))) => id.to_str().expect("ASCII").to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refused_id_is_replaced_and_a_kept_one_is_not() {
        let echo = tower::service_fn(|request: Request<()>| async move {
            Ok::<_, std::convert::Infallible>(request.headers().get(HEADER).cloned())
        });
        let mut service = SetRequestId(echo);
        assert_eq!(passed_on(&mut service, Some("abc-1")), "abc-1");
        let long = "x".repeat(300);
        for sent in [None, Some(long.as_str()), Some("a b")] {
            let id = passed_on(&mut service, sent);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{sent:?}: {id}");
        }
    }
}
