//! Traces, end to end: `serve` and `worker` processes export to an OTLP/HTTP receiver
//! started here (spans decoded with the official protobuf definitions). A request that
//! schedules a task is one trace across both processes; a caller's `traceparent` is
//! continued; a sampled-out request exports nothing; log lines and error reports carry the
//! trace id; a collector that refuses or never answers delays nothing and drops are counted.
use std::path::Path;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use uuid::Uuid;

use crate::support::app::{Api, sample, scrape};
use crate::support::database::TestDatabase;
use crate::support::eventually;
use crate::support::fixtures;
use crate::support::listeners::{FakeSentry, Framing, TcpInput, UdpInput};
use crate::support::otlp::{BlackHole, OtlpReceiver, Received, refusing_endpoint};
use crate::support::process::{Process, serve};
use crate::support::redis::TestRedis;

const PATIENCE: Duration = Duration::from_secs(30);

/// Variables that send a process's spans to `endpoint`, quickly.
fn tracing_to(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("APP__TRACE__ENDPOINT", endpoint.to_owned()),
        ("APP__TRACE__BATCH_DELAY_MS", "20".to_owned()),
    ]
}

/// Variables that write a process's log lines as JSON into `folder`.
fn json_file_in(folder: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("APP__LOG__FILE__ENABLED", "true".to_owned()),
        ("APP__LOG__FILE__DIRECTORY", folder.display().to_string()),
        ("APP__LOG__FILE__FORMAT", "json".to_owned()),
        ("APP__LOG__FILE__ASYNC", "false".to_owned()),
    ]
}

/// The JSON lines written in `folder` that contain `text`.
fn json_lines(folder: &Path, text: &str) -> Vec<Value> {
    std::fs::read_dir(folder)
        .expect("the log folder")
        .flatten()
        .flat_map(|entry| {
            std::fs::read_to_string(entry.path())
                .unwrap_or_default()
                .lines()
                .filter(|line| line.contains(text))
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn find(spans: &[Received], wanted: impl Fn(&Received) -> bool) -> Option<&Received> {
    spans.iter().find(|span| wanted(span))
}

#[tokio::test]
async fn a_request_that_schedules_a_task_is_one_trace_with_the_workers_run() {
    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let receiver = OtlpReceiver::start();
    let database = TestDatabase::create().await;
    let (service_logs, worker_logs) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let mut env: Vec<(&str, String)> = tracing_to(&receiver.endpoint);
    env.extend(json_file_in(service_logs.path()));
    let queue = redis.env(&database.url);
    env.extend(
        queue
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone())),
    );
    let (service, api) = serve(&database, &env).await;
    let mut worker_env = queue.clone();
    for (name, value) in tracing_to(&receiver.endpoint)
        .into_iter()
        .chain(json_file_in(worker_logs.path()))
    {
        worker_env.push((name.to_owned(), value));
    }
    let worker = Process::start("worker", &worker_env);
    let person = fixtures::person(&database.connect().await, "Ada", 36).await;
    let request_id = format!("traced-{}", Uuid::new_v4());

    let response = api
        .post(&format!("/v1/persons/{}/birthday", person.id))
        .header("x-request-id", &request_id)
        .await;
    assert_eq!(response.status(), 202);
    let task: Value = response.json().await.expect("JSON");
    let task_id = task["id"].as_str().expect("id").to_owned();

    let is_request = |span: &Received| {
        span.attribute("request_id") == Some(request_id.clone()) && span.kind() == SpanKind::Server
    };
    let is_task = |span: &Received| span.attribute("task.id") == Some(task_id.clone());
    let spans = receiver
        .spans
        .wait_until(|spans| {
            let task = find(spans, is_task);
            find(spans, is_request).is_some()
                && task.is_some_and(|task| {
                    spans.iter().any(|span| {
                        span.parent_id() == task.span_id() && span.kind() == SpanKind::Client
                    })
                })
        })
        .await;
    let request = find(&spans, is_request)
        .unwrap_or_else(|| panic!("no request span in {spans:#?}\n{}", service.output()));
    let run = find(&spans, is_task)
        .unwrap_or_else(|| panic!("no task span in {spans:#?}\n{}", worker.output()));

    // The request: an HTTP server span at the root of its trace.
    assert_eq!(request.name(), "POST /v1/persons/{id}/birthday");
    assert_eq!(request.parent_id(), "");
    assert_eq!(
        request.attribute("http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        request.attribute("http.route").as_deref(),
        Some("/v1/persons/{id}/birthday")
    );
    assert_eq!(
        request.attribute("http.response.status_code").as_deref(),
        Some("202")
    );
    assert_eq!(
        request.resource.get("process.pid"),
        Some(&service.pid().to_string()),
        "exported by the service"
    );
    // Its query: a client span under it, with its kind and table and no values.
    // (The caller's key is looked up first, a query of its own: its name says which.)
    let query = find(&spans, |span| {
        span.parent_id() == request.span_id() && span.name() == "SELECT persons"
    })
    .unwrap_or_else(|| panic!("no query span under the request in {spans:#?}"));
    assert_eq!(query.kind(), SpanKind::Client);
    assert_eq!(query.name(), "SELECT persons");
    assert_eq!(
        query.attribute("db.system.name").as_deref(),
        Some("postgresql")
    );
    assert_eq!(query.trace_id(), request.trace_id());

    // The worker's run: the request's child, in the same trace, from the other process.
    assert_eq!(run.trace_id(), request.trace_id());
    assert_eq!(run.parent_id(), request.span_id());
    assert_eq!(run.kind(), SpanKind::Consumer);
    assert_eq!(run.name(), "persons.add_one_year");
    assert_eq!(
        run.attribute("task.name").as_deref(),
        Some("persons.add_one_year")
    );
    assert_eq!(run.attribute("task.attempt").as_deref(), Some("1"));
    assert_eq!(
        run.attribute("request_id").as_deref(),
        Some(request_id.as_str())
    );
    assert_eq!(
        run.resource.get("process.pid"),
        Some(&worker.pid().to_string()),
        "exported by the worker"
    );
    let update = find(&spans, |span| {
        span.parent_id() == run.span_id() && span.name() == "UPDATE persons"
    });
    assert!(
        update.is_some(),
        "the task's own statements are its children: {spans:#?}"
    );

    // Log lines join the trace: the request's in the service, the task's in the worker.
    let lines = json_lines(service_logs.path(), &request_id);
    assert!(!lines.is_empty(), "{}", service.output());
    for line in &lines {
        assert_eq!(line["trace_id"], request.trace_id().as_str(), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|line| line["span_id"] == request.span_id().as_str()),
        "{lines:?}"
    );
    let done = eventually(
        PATIENCE,
        async || json_lines(worker_logs.path(), "task succeeded"),
        |lines| !lines.is_empty(),
    )
    .await;
    assert_eq!(
        done.first().map(|line| line["trace_id"].clone()),
        Some(Value::from(request.trace_id())),
        "{}",
        worker.output()
    );
    assert_eq!(done[0]["span_id"], run.span_id().as_str());
}

#[tokio::test]
async fn a_callers_traceparent_is_continued_and_its_trace_id_reaches_logs_and_sentry() {
    let receiver = OtlpReceiver::start();
    let gelf = TcpInput::start(Framing::Nul);
    let syslog = UdpInput::start();
    let sentry = FakeSentry::start();
    let database = TestDatabase::create().await;
    let mut env = tracing_to(&receiver.endpoint);
    env.extend([
        ("APP__LOG__GELF__ENABLED", "true".to_owned()),
        ("APP__LOG__GELF__ADDRESS", gelf.address.to_string()),
        ("APP__LOG__SYSLOG__ENABLED", "true".to_owned()),
        (
            "APP__LOG__SYSLOG__ADDRESS",
            format!("udp://{}", syslog.address),
        ),
        ("APP__SENTRY__DSN", sentry.dsn.clone()),
    ]);
    let (service, api) = serve(&database, &env).await;
    let db = database.connect().await;
    let person = fixtures::person(&db, "Ada", 36).await;
    // Break the database under the service: the read fails, a 500 reported to Sentry. The
    // table is renamed, not dropped: a generated resource's table may refer to it.
    db.execute_unprepared("ALTER TABLE persons RENAME TO gone")
        .await
        .expect("rename");
    let trace_id = Uuid::new_v4().simple().to_string();
    let caller = "00f067aa0ba902b7";
    let request_id = format!("continued-{}", Uuid::new_v4());

    let response = api
        .get(&format!("/v1/persons/{}", person.id))
        .header("x-request-id", &request_id)
        .header("traceparent", &format!("00-{trace_id}-{caller}-01"))
        .header("tracestate", "vendor=opaque")
        .await;
    assert_eq!(response.status(), 500);

    let spans = receiver
        .spans
        .wait_until(|spans| {
            find(spans, |span| {
                span.kind() == SpanKind::Server && span.trace_id() == trace_id
            })
            .is_some()
        })
        .await;
    let request = find(&spans, |span| {
        span.kind() == SpanKind::Server && span.trace_id() == trace_id
    })
    .unwrap_or_else(|| {
        panic!(
            "no span of the caller's trace in {spans:#?}\n{}",
            service.output()
        )
    });
    assert_eq!(
        request.parent_id(),
        caller,
        "the caller's span is the parent"
    );
    assert_eq!(request.span.trace_state, "vendor=opaque");
    assert_eq!(request.name(), "GET /v1/persons/{id}");
    assert_eq!(
        request.attribute("http.response.status_code").as_deref(),
        Some("500")
    );
    assert_eq!(request.status(), 2, "a 5xx is an error");

    let record = gelf.inbox.wait_for(&request_id).await;
    let message: Value = serde_json::from_str(&record).expect("GELF is JSON");
    assert_eq!(message["_trace_id"], trace_id.as_str(), "{message}");
    assert_eq!(message["_span_id"], request.span_id().as_str(), "{message}");
    let line = syslog
        .inbox
        .wait_for(&format!("request_id={request_id}"))
        .await;
    assert!(line.contains(&format!("trace_id={trace_id}")), "{line}");
    let event = sentry
        .event(|event| event["tags"]["request_id"] == request_id.as_str())
        .await;
    assert_eq!(event["tags"]["trace_id"], trace_id.as_str(), "{event}");
    assert_eq!(
        event["contexts"]["trace"]["trace_id"],
        trace_id.as_str(),
        "{event}"
    );
}

#[tokio::test]
async fn a_sampled_out_request_exports_nothing_nor_does_its_task() {
    let receiver = OtlpReceiver::start();
    let database = TestDatabase::create().await;
    let mut env = tracing_to(&receiver.endpoint);
    env.push(("APP__TRACE__SAMPLE_RATIO", "0".to_owned()));
    // Tasks run in-process, in the request: their spans would be the request's children.
    env.push(("APP__TASKS__EAGER", "true".to_owned()));
    let (service, api) = serve(&database, &env).await;
    let person = fixtures::person(&database.connect().await, "Ada", 36).await;

    assert_eq!(api.get("/mon/ping").await.status(), 200);
    let birthday = api
        .post(&format!("/v1/persons/{}/birthday", person.id))
        .await;
    assert_eq!(birthday.status(), 202);
    let body: Value = birthday.json().await.expect("JSON");
    assert_eq!(body["state"], "succeeded", "the task ran, in the request");
    // A caller that decided not to sample is followed.
    let unsampled = Uuid::new_v4().simple().to_string();
    let response = api
        .get(&format!("/v1/persons/{}", person.id))
        .header(
            "traceparent",
            &format!("00-{unsampled}-00f067aa0ba902b7-00"),
        )
        .await;
    assert_eq!(response.status(), 200);
    // Then a request its caller sampled: its spans come after any of the ones before.
    let marker = Uuid::new_v4().simple().to_string();
    let response = api
        .get("/mon/ping")
        .header("traceparent", &format!("00-{marker}-00f067aa0ba902b7-01"))
        .await;
    assert_eq!(response.status(), 200);

    let spans = receiver
        .spans
        .wait_until(|spans| find(spans, |span| span.trace_id() == marker).is_some())
        .await;
    assert!(
        find(&spans, |span| span.trace_id() == marker).is_some(),
        "the sampled request is exported:\n{}",
        service.output()
    );
    let others: Vec<&Received> = spans
        .iter()
        .filter(|span| span.trace_id() != marker)
        .collect();
    assert!(others.is_empty(), "sampled out, yet exported: {others:#?}");
}

#[tokio::test]
async fn a_collector_that_refuses_or_never_answers_delays_no_request_and_drops_are_counted() {
    let black_hole = BlackHole::start();
    let refusing = refusing_endpoint();
    let collector = |endpoint: &str| {
        let mut env = tracing_to(endpoint);
        env.extend([
            // An export waits 5 s for an answer: a request held by one would show.
            ("APP__TRACE__TIMEOUT_MS", "5000".to_owned()),
            ("APP__TRACE__QUEUE_CAPACITY", "64".to_owned()),
            ("APP__TRACE__BATCH_SIZE", "16".to_owned()),
            ("APP__TRACE__SHUTDOWN_TIMEOUT_MS", "1000".to_owned()),
        ]);
        env
    };
    let (plain_db, silent_db, refused_db) = (
        TestDatabase::create().await,
        TestDatabase::create().await,
        TestDatabase::create().await,
    );
    let (_plain, plain) = serve(&plain_db, &[]).await;
    let (mut silent, silent_api) = serve(&silent_db, &collector(&black_hole.endpoint)).await;
    let (_refused, refused_api) = serve(&refused_db, &collector(&refusing)).await;
    let client = reqwest::Client::new();

    let (without, _) = load(&client, &plain).await;
    let (to_silent, silent_slow) = load(&client, &silent_api).await;
    let (to_refusing, refused_slow) = load(&client, &refused_api).await;

    // For the record, not a speed target (benchmarks do those).
    crate::support::notice(&format!(
        "1,000 requests, 8 clients: without tracing {without}; to a collector that never \
         answers {to_silent}; to one that refuses {to_refusing}"
    ));
    assert_eq!(
        silent_slow, 0,
        "requests held up by a silent collector: {to_silent}"
    );
    assert_eq!(
        refused_slow, 0,
        "requests held up by a refusing collector: {to_refusing}"
    );

    let dropped = |metrics: &str, reason: &str| {
        sample(
            metrics,
            &["trace_spans_dropped_total{reason=\"", reason, "\"}"].concat(),
        )
    };
    let metrics = scrape(&silent_api).await;
    assert!(dropped(&metrics, "queue_full") > 0.0, "{metrics}");
    assert_eq!(
        sample(&metrics, "trace_spans_exported_total"),
        0.0,
        "{metrics}"
    );
    let metrics = eventually(
        PATIENCE,
        async || scrape(&refused_api).await,
        |metrics| dropped(metrics, "export_failed") > 0.0,
    )
    .await;
    assert!(dropped(&metrics, "export_failed") > 0.0, "{metrics}");

    // At exit, what is queued gets its bounded chance: the silent collector holds the
    // process no longer than the shutdown bound (1 s) plus the server's own.
    let stopping = Instant::now();
    silent.signal("TERM");
    let status = silent.exited(PATIENCE).await;
    assert!(status.success(), "{status}: {}", silent.output());
    crate::support::notice(&format!(
        "a service exporting to a silent collector stopped in {:?}",
        stopping.elapsed()
    ));
}

#[tokio::test]
async fn spans_queued_at_exit_are_sent_before_the_process_ends() {
    let receiver = OtlpReceiver::start();
    let database = TestDatabase::create().await;
    let mut env = tracing_to(&receiver.endpoint);
    // Nothing leaves on its own before the exit.
    env.push(("APP__TRACE__BATCH_DELAY_MS", "600000".to_owned()));
    let (mut service, api) = serve(&database, &env).await;
    let request_id = format!("last-{}", Uuid::new_v4());

    assert_eq!(
        api.get("/mon/ping")
            .header("x-request-id", &request_id)
            .await
            .status(),
        200
    );
    assert!(
        receiver.spans.all().is_empty(),
        "held until the batch is due"
    );
    service.signal("TERM");
    let status = service.exited(PATIENCE).await;

    assert!(status.success(), "{status}: {}", service.output());
    let spans = receiver.spans.all();
    assert!(
        find(&spans, |span| span.attribute("request_id")
            == Some(request_id.clone()))
        .is_some(),
        "the request's span left at exit: {spans:#?}\n{}",
        service.output()
    );
}

/// Sends 1,000 pings from 8 clients; all must succeed. Returns the timings, as text, and
/// how many requests took more than a second (held up by something).
async fn load(client: &reqwest::Client, api: &Api) -> (String, usize) {
    let started = Instant::now();
    let latencies = crate::support::ping_latencies(client, &api.url("/mon/ping"), 125).await;
    let percentile = |p: usize| latencies[latencies.len() * p / 100 - 1];
    let slow = latencies
        .iter()
        .filter(|latency| **latency > Duration::from_secs(1))
        .count();
    let text = format!(
        "{:?} in all, p50 {:?}, p99 {:?}, max {:?}",
        started.elapsed(),
        percentile(50),
        percentile(99),
        latencies[latencies.len() - 1],
    );
    (text, slow)
}
