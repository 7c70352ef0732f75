---
to: src/tasks/{{ group }}.rs
if_exists: append
injections:
  - into: src/tasks/mod.rs
    before: "// `cargo xtask new task` registers new tasks above this line."
    content: ".register::<{{ group }}::{{ Name }}>()"
---
{# The Rust type of each argument type (`Option<...>` when optional). #}
{% set arg_type = {
    "string": "String", "text": "String", "bool": "bool", "i32": "i32", "i64": "i64",
    "f64": "f64", "date": "chrono::NaiveDate", "datetime": "chrono::DateTime<chrono::Utc>",
    "uuid": "uuid::Uuid", "json": "serde_json::Value"} %}

/// `{{ task_name }}`: what it does is yours to write (`cargo xtask new task` started it).
/// Schedule it with [`schedule_{{ name }}`].
pub struct {{ Name }};

/// The arguments of [`{{ Name }}`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct {{ Name }}Args {
{% for arg in args %}
{% if arg.optional %}
    #[serde(default)]
    pub {{ arg.name }}: Option<{{ arg_type[arg.kind] }}>,
{% else %}
    pub {{ arg.name }}: {{ arg_type[arg.kind] }},
{% endif %}
{% endfor %}
}

impl crate::queue::Job for {{ Name }} {
    const NAME: &'static str = "{{ task_name }}";
    type Args = {{ Name }}Args;
    type Output = ();

    async fn run(
        _ctx: crate::queue::JobContext,
        _args: {{ Name }}Args,
    ) -> Result<(), crate::queue::JobError> {
        // The work goes here, through the controllers. A task may be delivered more than
        // once (at-least-once delivery): commit its writes together with its success
        // through `ctx.complete_in(&txn, &output)?` (a run that was taken over gets
        // `JobError::Superseded`, and `?` rolls its writes back), and make what it does
        // outside the database idempotent. Blocking work (a heavy computation, synchronous
        // I/O) goes in `tokio::task::spawn_blocking(move || ...).await`, so that the
        // worker's other tasks keep running.
        Ok(())
    }
}

/// Schedules [`{{ Name }}`]; the row returned, also at `GET /v1/tasks/{id}`, says how it
/// went. Views call this, as they call controllers.
pub async fn schedule_{{ name }}(
    queue: &crate::queue::Queue,
    args: {{ Name }}Args,
    request_id: Option<String>,
) -> Result<crate::models::task::Model, crate::controllers::Error> {
    let call = crate::queue::JobCall::new::<{{ Name }}>(args)
        .map_err(|e| crate::controllers::Error::Internal(e.to_string()))?;
    crate::controllers::tasks::schedule_task(queue, call, request_id).await
}
