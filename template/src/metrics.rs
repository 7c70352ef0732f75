//! Prometheus metrics of this process, rendered in the text format at `GET /metrics`:
//! HTTP requests by route template and status, request latency, tasks by outcome, the
//! queue's depth, dropped log lines and the process's memory.
//!
//! Counters live in one process-wide [`Metrics`]. Counting a request takes no lock and
//! allocates nothing once its thread has seen the route (see [`KeyedMap`]), and the
//! counters are atomics that `/metrics` reads as they are.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::http::Method;

use crate::platform::keyed::KeyedMap;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The same bounds in nanoseconds, to place a request without floating point.
const BUCKET_NANOS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// The route label of requests no route matched (kept apart to bound the label values).
pub const UNMATCHED: &str = "unmatched";

/// Method labels, in the order they are rendered; any other method is `OTHER`.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
];

/// HTTP status codes run from 100 to 999 (`http::StatusCode`).
const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 900;

/// What happened to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEvent {
    Scheduled,
    Succeeded,
    Failed,
    Retried,
}

/// All the metrics of the process.
#[derive(Default)]
pub struct Metrics {
    /// Every route seen, by route template.
    routes: KeyedMap<RouteStats>,
    tasks: Mutex<BTreeMap<String, [u64; 4]>>,
}

/// The counters of one route, by method (made on the method's first request).
#[derive(Default)]
struct RouteStats {
    methods: [OnceLock<Box<MethodStats>>; METHODS.len()],
}

/// Requests of one method on one route: by status, and their latency.
struct MethodStats {
    statuses: [AtomicU64; STATUSES],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl MethodStats {
    fn new() -> Box<Self> {
        Box::new(Self {
            statuses: [const { AtomicU64::new(0) }; STATUSES],
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        })
    }

    fn observe(&self, status: u16, elapsed: Duration) {
        if let Some(counter) = status
            .checked_sub(FIRST_STATUS)
            .and_then(|index| self.statuses.get(usize::from(index)))
        {
            counter.fetch_add(1, Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        if let Some(bucket) = BUCKET_NANOS.iter().position(|bound| nanos <= *bound) {
            self.buckets[bucket].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &METRICS
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters stay usable after a panic elsewhere.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// Counts a request answered with `status` after `elapsed`. `route` is the matched
    /// route template (`/v1/persons/{id}`), never the raw path.
    pub fn http(&self, method: &Method, route: Option<&str>, status: u16, elapsed: Duration) {
        let route = route.unwrap_or(UNMATCHED);
        let method = method_index(method);
        self.routes.with(route, |stats| {
            stats.methods[method]
                .get_or_init(MethodStats::new)
                .observe(status, elapsed);
        });
    }

    /// Counts `count` tasks named `task` reaching `event`.
    pub fn tasks(&self, task: &str, event: TaskEvent, count: u64) {
        let mut tasks = lock(&self.tasks);
        let counts = match tasks.get_mut(task) {
            Some(counts) => counts,
            None => tasks.entry(task.to_owned()).or_default(),
        };
        counts[event as usize] += count;
    }

    /// The text exposition of every metric; `queue` is the queue's depth (ready, delayed)
    /// when this process can see it.
    pub fn render(&self, queue: Option<(u64, u64)>) -> String {
        let mut out = String::with_capacity(4096);
        self.render_http(&mut out);
        self.render_tasks(&mut out);
        if let Some((ready, delayed)) = queue {
            header(
                &mut out,
                "tasks_queue_depth",
                "gauge",
                "Tasks waiting in the queue: ready to run, or delayed until a retry is due.",
            );
            sample(&mut out, "tasks_queue_depth", "state=\"ready\"", ready);
            sample(&mut out, "tasks_queue_depth", "state=\"delayed\"", delayed);
        }
        let lost = crate::telemetry::lost_lines();
        if !lost.is_empty() {
            header(
                &mut out,
                "log_lines_dropped_total",
                "counter",
                "Log lines a sink could not deliver (queue full or backend down).",
            );
            for (sink, count) in lost {
                let labels = format!("sink=\"{sink}\"");
                sample(&mut out, "log_lines_dropped_total", &labels, count);
            }
        }
        if let Some(spans) = crate::telemetry::trace::stats() {
            header(
                &mut out,
                "trace_spans_exported_total",
                "counter",
                "Spans the trace collector accepted.",
            );
            sample(&mut out, "trace_spans_exported_total", "", spans.exported);
            header(
                &mut out,
                "trace_spans_dropped_total",
                "counter",
                "Spans dropped: the export queue was full, or their export failed.",
            );
            for (reason, count) in [
                ("queue_full", spans.queue_full),
                ("export_failed", spans.export_failed),
            ] {
                let labels = format!("reason=\"{reason}\"");
                sample(&mut out, "trace_spans_dropped_total", &labels, count);
            }
        }
        if let Some(bytes) = resident_memory() {
            header(
                &mut out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            sample(&mut out, "process_resident_memory_bytes", "", bytes);
        }
        out
    }

    fn render_http(&self, out: &mut String) {
        let mut routes: Vec<(String, Arc<RouteStats>)> = Vec::new();
        self.routes
            .for_each(|route, stats| routes.push((escape(route), stats.clone())));
        // (labels without status, stats) of every method seen on every route, by route.
        let seen: Vec<(String, &MethodStats)> = routes
            .iter()
            .flat_map(|(route, stats)| {
                METHODS
                    .iter()
                    .zip(&stats.methods)
                    .filter_map(move |(method, stats)| {
                        let labels = format!("method=\"{method}\",route=\"{route}\"");
                        stats.get().map(|stats| (labels, &**stats))
                    })
            })
            .collect();
        header(
            out,
            "http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        );
        for (labels, stats) in &seen {
            for (status, count) in (FIRST_STATUS..).zip(&stats.statuses) {
                let count = count.load(Relaxed);
                if count > 0 {
                    sample(
                        out,
                        "http_requests_total",
                        &format!("{labels},status=\"{status}\""),
                        count,
                    );
                }
            }
        }
        header(
            out,
            "http_request_duration_seconds",
            "histogram",
            "Time from receiving a request to its response, by method and route template.",
        );
        for (labels, stats) in &seen {
            let mut cumulative = 0;
            let bucket = "http_request_duration_seconds_bucket";
            for (bound, counter) in BUCKETS.iter().zip(&stats.buckets) {
                cumulative += counter.load(Relaxed);
                sample(out, bucket, &format!("{labels},le=\"{bound}\""), cumulative);
            }
            // Requests still being counted may be in a bucket and not yet in the count:
            // `+Inf` never shows less than the buckets.
            let count = stats.count.load(Relaxed).max(cumulative);
            sample(out, bucket, &format!("{labels},le=\"+Inf\""), count);
            let sum = stats.sum_nanos.load(Relaxed) as f64 / 1e9;
            sample(out, "http_request_duration_seconds_sum", labels, sum);
            sample(out, "http_request_duration_seconds_count", labels, count);
        }
    }

    fn render_tasks(&self, out: &mut String) {
        let tasks = lock(&self.tasks).clone();
        let kinds = [
            ("tasks_scheduled_total", "Tasks scheduled, by task name."),
            (
                "tasks_succeeded_total",
                "Tasks that succeeded, by task name.",
            ),
            (
                "tasks_failed_total",
                "Tasks that failed for good (retries exhausted or unrecoverable), by task name.",
            ),
            (
                "tasks_retried_total",
                "Failed attempts that will be retried, by task name.",
            ),
        ];
        for (index, (name, help)) in kinds.iter().enumerate() {
            header(out, name, "counter", help);
            for (task, counts) in &tasks {
                let labels = format!("task=\"{}\"", escape(task));
                sample(out, name, &labels, counts[index]);
            }
        }
    }
}

/// One line: `name{labels} value`.
fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The index in [`METHODS`] of a standard method; any other is `OTHER` (label values
/// stay bounded).
fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// Resident memory, `VmRSS` of `/proc/self/status` (Linux only; whatever the page size).
fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_template_and_status() {
        let metrics = Metrics::default();
        let id = Some("/v1/persons/{id}");
        metrics.http(&Method::GET, id, 200, Duration::from_millis(3));
        metrics.http(&Method::GET, id, 200, Duration::from_millis(30));
        metrics.http(&Method::GET, id, 404, Duration::from_micros(200));
        metrics.http(
            &Method::from_bytes(b"BREW").unwrap(),
            None,
            404,
            Duration::ZERO,
        );

        let text = metrics.render(None);

        let line = |start: &str| {
            text.lines()
                .find(|line| line.starts_with(start))
                .unwrap_or_else(|| panic!("no {start} in\n{text}"))
                .to_owned()
        };
        assert!(
            line(r#"http_requests_total{method="GET",route="/v1/persons/{id}",status="200"}"#)
                .ends_with(" 2")
        );
        assert!(
            line(r#"http_requests_total{method="GET",route="/v1/persons/{id}",status="404"}"#)
                .ends_with(" 1")
        );
        assert!(
            line(r#"http_requests_total{method="OTHER",route="unmatched",status="404"}"#)
                .ends_with(" 1")
        );
        let bucket =
            r#"http_request_duration_seconds_bucket{method="GET",route="/v1/persons/{id}",le="#;
        assert!(line(&format!("{bucket}\"0.0005\"}}")).ends_with(" 1"));
        assert!(line(&format!("{bucket}\"0.005\"}}")).ends_with(" 2"));
        assert!(line(&format!("{bucket}\"+Inf\"}}")).ends_with(" 3"));
        assert!(
            line(r#"http_request_duration_seconds_count{method="GET",route="/v1/persons/{id}"}"#)
                .ends_with(" 3")
        );
        assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
    }

    #[test]
    fn tasks_and_the_queue_are_reported() {
        let metrics = Metrics::default();
        metrics.tasks("persons.add_one_year", TaskEvent::Scheduled, 3);
        metrics.tasks("persons.add_one_year", TaskEvent::Retried, 1);
        metrics.tasks("persons.add_one_year", TaskEvent::Succeeded, 2);

        let text = metrics.render(Some((5, 1)));

        assert!(text.contains("tasks_scheduled_total{task=\"persons.add_one_year\"} 3\n"));
        assert!(text.contains("tasks_retried_total{task=\"persons.add_one_year\"} 1\n"));
        assert!(text.contains("tasks_succeeded_total{task=\"persons.add_one_year\"} 2\n"));
        assert!(text.contains("tasks_failed_total{task=\"persons.add_one_year\"} 0\n"));
        assert!(text.contains("tasks_queue_depth{state=\"ready\"} 5\n"));
        assert!(text.contains("tasks_queue_depth{state=\"delayed\"} 1\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
