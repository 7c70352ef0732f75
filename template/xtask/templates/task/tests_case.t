---
to: tests/api/{{ group }}_tasks.rs
if_exists: append
---
{# A value of each argument type (`Some(...)` when optional). #}
{% set sample = {
    "string": 'String::from("example")', "text": 'String::from("example")', "bool": "true",
    "i32": "42", "i64": "42", "f64": "1.5",
    "date": 'chrono::NaiveDate::from_ymd_opt(2025, 1, 31).expect("a date")',
    "datetime": "chrono::Utc::now()", "uuid": "uuid::Uuid::nil()",
    "json": 'serde_json::json!(["any", "value"])'} %}

#[tokio::test]
async fn {{ name }}_is_scheduled_and_succeeds() {
    let app = {{ spawn_app }}().await;
    let settings = {{ test_settings }}();
    let db = sea_orm::Database::connect(app.database_url.as_str())
        .await
        .expect("connect");
    let health = {{ service }}::db::Health::default();
    let queue = {{ service }}::tasks::queue(db, &health, &settings).expect("a task queue");
    assert!(queue.is_eager(), "the tests run tasks in-process");
    let args = {{ service }}::tasks::{{ group }}::{{ Name }}Args {
{% for arg in args %}
{% if arg.optional %}
        {{ arg.name }}: Some({{ sample[arg.kind] }}),
{% else %}
        {{ arg.name }}: {{ sample[arg.kind] }},
{% endif %}
{% endfor %}
    };

    let task = {{ service }}::tasks::{{ group }}::schedule_{{ name }}(
        &queue,
        args.clone(),
        Some("test-{{ name }}".into()),
    )
    .await
    .expect("scheduled");

    assert_eq!(task.name, "{{ task_name }}");
    assert_eq!(
        task.state,
        {{ service }}::models::task::State::Succeeded,
        "{task:?}"
    );
    assert_eq!(task.arguments, serde_json::to_value(&args).expect("JSON"));
    assert_eq!(task.request_id.as_deref(), Some("test-{{ name }}"));
}
