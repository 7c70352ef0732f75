//! Prometheus metrics of this process, rendered in the text format at `GET /metrics`:
//! HTTP requests by route template and status, request latency, tasks by outcome, the
//! queue's depth, dropped log lines and the process's memory.
//!
//! Counters live in one process-wide [`Metrics`]; recording takes an uncontended lock and
//! no allocation once a route or task has been seen.
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::http::Method;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of requests no route matched (kept apart to bound the label values).
pub const UNMATCHED: &str = "unmatched";

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
    routes: RwLock<HashMap<String, Arc<Mutex<RouteStats>>>>,
    tasks: Mutex<BTreeMap<String, [u64; 4]>>,
}

#[derive(Default)]
struct RouteStats {
    /// Requests by method and status.
    requests: Vec<(&'static str, u16, u64)>,
    /// Latency by method.
    latency: Vec<(&'static str, Histogram)>,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[bucket] += 1;
        }
        self.count += 1;
        self.sum += seconds;
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
        let stats = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
            .cloned();
        let stats = match stats {
            Some(stats) => stats,
            None => self
                .routes
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(route.to_owned())
                .or_default()
                .clone(),
        };
        let method = method_label(method);
        let mut stats = lock(&stats);
        match stats
            .requests
            .iter_mut()
            .find(|(m, s, _)| *m == method && *s == status)
        {
            Some((_, _, count)) => *count += 1,
            None => stats.requests.push((method, status, 1)),
        }
        let seconds = elapsed.as_secs_f64();
        match stats.latency.iter_mut().find(|(m, _)| *m == method) {
            Some((_, histogram)) => histogram.observe(seconds),
            None => {
                let mut histogram = Histogram::default();
                histogram.observe(seconds);
                stats.latency.push((method, histogram));
            }
        }
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
        let routes: BTreeMap<String, Arc<Mutex<RouteStats>>> = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(route, stats)| (route.clone(), stats.clone()))
            .collect();
        let snapshot: Vec<(String, RouteStats)> = routes
            .into_iter()
            .map(|(route, stats)| {
                let stats = lock(&stats);
                let copy = RouteStats {
                    requests: stats.requests.clone(),
                    latency: stats.latency.clone(),
                };
                (escape(&route), copy)
            })
            .collect();
        header(
            out,
            "http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        );
        for (route, stats) in &snapshot {
            for (method, status, count) in &stats.requests {
                let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
                sample(out, "http_requests_total", &labels, count);
            }
        }
        header(
            out,
            "http_request_duration_seconds",
            "histogram",
            "Time from receiving a request to its response, by method and route template.",
        );
        for (route, stats) in &snapshot {
            for (method, histogram) in &stats.latency {
                let labels = format!("method=\"{method}\",route=\"{route}\"");
                let mut cumulative = 0;
                let bucket = "http_request_duration_seconds_bucket";
                for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                    cumulative += count;
                    sample(out, bucket, &format!("{labels},le=\"{bound}\""), cumulative);
                }
                let count = histogram.count;
                sample(out, bucket, &format!("{labels},le=\"+Inf\""), count);
                sample(
                    out,
                    "http_request_duration_seconds_sum",
                    &labels,
                    histogram.sum,
                );
                sample(out, "http_request_duration_seconds_count", &labels, count);
            }
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

/// The standard methods by name; any other is `OTHER` (label values stay bounded).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
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
