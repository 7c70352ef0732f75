---
to: tests/api/{{ many }}.rs
injections:
  - into: tests/api/main.rs
    among: "mod "
    content: "mod {{ many }};"
  - into: "{{ schema_file }}"
    before: "// `cargo xtask new resource` adds the entities of new resources above this line."
    content: "problems.extend(drift::<{{ service }}::models::{{ one }}::Entity>(&db).await);"
---
{# Two valid values of each field type (JSON, inside `json!`), one of the right type that
   its checks refuse, and one of a wrong type. Whole numbers with a range take its ends. #}
{% set good = {
    "text": ['"First line\\nsecond line"', '"Another text"'],
    "bool": ["true", "false"], "i32": ["42", "-7"], "i64": ["4_200_000_000_i64", "-9"],
    "f64": ["1.5", "-2.25"], "date": ['"2025-01-31"', '"2024-02-29"'],
    "datetime": ['"2025-01-31T09:30:00Z"', '"2024-02-29T23:59:59.500Z"'],
    "uuid": ['"67e55044-10b1-426f-9247-bb680e5fe0c8"', '"00000000-0000-4000-8000-000000000001"'],
    "json": ['{"any": ["json", 1, true]}', "[1, 2, 3]"]} %}
{% set bad = {
    "string": 'json!("   ")', "text": 'json!(" \\n ")', "date": 'json!("2025-02-30")',
    "datetime": 'json!("2025-01-31 09:30")', "uuid": 'json!("not-a-uuid")',
    "json": 'json!({"text": "\\u{0}"})', "reference": "json!(i64::MAX)"} %}
{% set wrong = {
    "string": "json!(42)", "text": "json!(42)", "bool": 'json!("yes")',
    "i32": 'json!("forty-two")', "i64": 'json!("forty-two")', "f64": 'json!("1.5")',
    "date": "json!(20250131)", "datetime": "json!(20250131)", "uuid": "json!(20250131)",
    "reference": 'json!("one")'} %}
{% macro value(field, n) %}
{% set suffix = "_i64" if field.kind == "i64" else "" %}
{% if field.kind == "reference" and n == 0 %}
{{ field.target.one }}["id"].clone()
{%- elif field.kind == "reference" %}
body["{{ field.name }}"].clone()
{%- elif field.kind == "string" %}
"{{ ["first", "second"][n][:field.length] }}"
{%- elif field.range %}
{{ [field.range.max, field.range.min][n] }}{{ suffix }}
{%- else %}
{{ good[field.kind][n] }}
{%- endif %}
{% endmacro %}
{% macro bad_value(field) %}
{% if field.range %}
json!({{ field.range.outside }}{{ "_i64" if field.kind == "i64" else "" }})
{%- else %}
{{ bad[field.kind] }}
{%- endif %}
{% endmacro %}
//! `/v1/{{ many }}` over HTTP (`cargo xtask new resource` wrote this file).
use serde_json::{Value, json};

{{ test_uses }}

/// A valid body for a new {{ one_words }}{% if references %} (what it refers to is created first){% endif %}.
pub async fn new_{{ one }}({% if not references %}_{% endif %}app: &TestApp) -> Value {
{% for field in references %}
    let {{ field.target.one }} = {{ field.target.fixture }}(app).await;
{% endfor %}
    json!({
{% for field in fields %}
        "{{ field.name }}": {{ value(field, 0) }},
{% endfor %}
    })
}

/// Creates {{ a_one }} and returns its JSON.
pub async fn create_{{ one }}(app: &TestApp) -> Value {
    let body = new_{{ one }}(app).await;
    let response = app.post_json("/v1/{{ many }}", &body).await;
    assert_eq!(response.status(), 201, "{{ one_words }} created");
    response.json().await.expect("JSON body")
}

/// Checks that `row` has each field of `body`, as sent.
fn assert_fields(row: &Value, body: &Value) {
    for (field, value) in body.as_object().expect("an object") {
        assert_eq!(&row[field], value, "{field}");
    }
}

#[tokio::test]
async fn {{ many }}_are_created_read_listed_replaced_changed_and_deleted() {
    let app = spawn_app().await;
    let body = new_{{ one }}(&app).await;

    let response = app.post_json("/v1/{{ many }}", &body).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let created: Value = response.json().await.expect("JSON");
    assert_eq!(location, format!("/v1/{{ many }}/{}", created["id"]));
    assert_fields(&created, &body);
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());

    let fetched: Value = app.get(&location).await.json().await.expect("JSON");
    assert_eq!(fetched, created);
    let listed: Value = app.get("/v1/{{ many }}").await.json().await.expect("JSON");
    assert_eq!(listed, json!({"objects": [created], "next": null, "prev": null}));

    let replacement = json!({
{% for field in fields %}
        "{{ field.name }}": {{ value(field, 1) }},
{% endfor %}
    });
    let response = app.put(&location).json(&replacement).await;
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.expect("JSON");
    assert_fields(&replaced, &replacement);
    assert_eq!(replaced["created_at"], created["created_at"]);

{% set first = fields[0].name %}
    let change = json!({"{{ first }}": body["{{ first }}"]});
    let response = app.patch(&location).json(&change).await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.expect("JSON");
    assert_eq!(changed["{{ first }}"], body["{{ first }}"]);
{% if fields | length == 2 %}
    assert_eq!(changed["{{ fields[1].name }}"], replaced["{{ fields[1].name }}"], "{{ fields[1].name }}");
{% elif fields | length > 2 %}
    for field in [{% for field in fields[1:] %}"{{ field.name }}"{{ ", " if not loop.last else "" }}{% endfor %}] {
        assert_eq!(changed[field], replaced[field], "{field}");
    }
{% endif %}

    let deleted = app.delete(&location).await;
    assert_eq!(deleted.status(), 204);
    let (status, code, _) = error_of(app.get(&location).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn {{ many }}_need_credentials_and_their_permissions() {
    let app = spawn_app().await;
    let body = new_{{ one }}(&app).await;

    let (status, code, _) = error_of(app.anonymous().get("/v1/{{ many }}").await).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let reader = app.as_caller("{{ many }}-reader", &["{{ many }}:read"]).await;
    assert_eq!(reader.get("/v1/{{ many }}").await.status(), 200);
    let (status, _, error) = error_of(reader.post_json("/v1/{{ many }}", &body).await).await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["error"]["message"], "this needs the permission {{ many }}:write");
    let writer = app.as_caller("{{ many }}-writer", &["{{ many }}:write"]).await;
    assert_eq!(writer.post_json("/v1/{{ many }}", &body).await.status(), 201);
    let (status, _, _) = error_of(writer.get("/v1/{{ many }}").await).await;
    assert_eq!(status, 403, "reading needs {{ many }}:read");
}

#[tokio::test]
async fn an_unknown_{{ one }}_is_a_404_and_a_bad_id_a_400() {
    let app = spawn_app().await;
    let body = new_{{ one }}(&app).await;
    let path = "/v1/{{ many }}/4242";

    let (status, code, _) = error_of(app.get(path).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    for method in [reqwest::Method::PUT, reqwest::Method::PATCH] {
        let response = app.request(method.clone(), path).json(&body).await;
        assert_eq!(error_of(response).await.0, 404, "{method}");
    }
    assert_eq!(error_of(app.delete(path).await).await.0, 404);
    let (status, code, _) = error_of(app.get("/v1/{{ many }}/abc").await).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
}

#[tokio::test]
async fn invalid_fields_return_422_naming_each_field() {
    let app = spawn_app().await;
{% set refused = fields | selectattr("checked") | list %}
{% if refused %}
    let mut body = new_{{ one }}(&app).await;
{% for field in refused %}
    body["{{ field.name }}"] = {{ bad_value(field) }};
{% endfor %}
    let (status, code, error) = error_of(app.post_json("/v1/{{ many }}", &body).await).await;
    assert_eq!((status, code.as_str()), (422, "validation_failed"), "{error}");
    let fields: Vec<&str> = error["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, [{% for field in refused %}"{{ field.name }}"{{ ", " if not loop.last else "" }}{% endfor %}]);
{% endif %}

    // Wrong types, missing and unknown fields are 422s too, named in the message.
{% for field in fields if field.kind in wrong %}
{% if loop.first %}
    let mut wrong = new_{{ one }}(&app).await;
    wrong["{{ field.name }}"] = {{ wrong[field.kind] }};
    let (status, _, error) = error_of(app.post_json("/v1/{{ many }}", &wrong).await).await;
    assert_eq!(status, 422, "{error}");
    assert!(error.to_string().contains("{{ field.name }}"), "{error}");
{% endif %}
{% endfor %}
    let mut unknown = new_{{ one }}(&app).await;
    unknown["no_such_field"] = json!(1);
    let (status, _, error) = error_of(app.post_json("/v1/{{ many }}", &unknown).await).await;
    assert_eq!(status, 422, "{error}");
    assert!(error.to_string().contains("no_such_field"), "{error}");
{% for field in fields if not field.optional %}
{% if loop.first %}
    let mut missing = new_{{ one }}(&app).await;
    missing.as_object_mut().expect("an object").remove("{{ field.name }}");
    let (status, _, error) = error_of(app.post_json("/v1/{{ many }}", &missing).await).await;
    assert_eq!(status, 422, "{error}");
    assert!(error.to_string().contains("{{ field.name }}"), "{error}");
{% endif %}
{% endfor %}
    let list: Value = app.get("/v1/{{ many }}").await.json().await.expect("JSON");
    assert_eq!(list["objects"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn lists_page_in_creation_order_with_next_and_prev_links() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create_{{ one }}(&app).await["id"].clone());
    }
    let ids_of = |page: &Value| -> Vec<Value> {
        page["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .map(|object| object["id"].clone())
            .collect()
    };

    let first: Value = app.get("/v1/{{ many }}?per_page=2").await.json().await.expect("JSON");
    assert_eq!(ids_of(&first), ids[..2]);
    assert_eq!(first["next"], "/v1/{{ many }}?page=2&per_page=2");
    assert_eq!(first["prev"], Value::Null);

    let second: Value = app.get("/v1/{{ many }}?page=2&per_page=2").await.json().await.expect("JSON");
    assert_eq!(ids_of(&second), ids[2..]);
    assert_eq!(second["next"], Value::Null);
    assert_eq!(second["prev"], "/v1/{{ many }}?page=1&per_page=2");
}
{% if optional %}

#[tokio::test]
async fn optional_fields_may_be_left_out_and_cleared_with_null() {
    let app = spawn_app().await;
    let optional = [{% for field in fields if field.optional %}"{{ field.name }}"{{ ", " if not loop.last else "" }}{% endfor %}];
    let mut body = new_{{ one }}(&app).await;
    for field in optional {
        body.as_object_mut().expect("an object").remove(field);
    }

    let response = app.post_json("/v1/{{ many }}", &body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("JSON");
    for field in optional {
        assert_eq!(created[field], Value::Null, "{field}");
    }

    let full = create_{{ one }}(&app).await;
    let path = format!("/v1/{{ many }}/{}", full["id"]);
    let mut clear = json!({});
    for field in optional {
        assert_ne!(full[field], Value::Null, "{field}");
        clear[field] = Value::Null;
    }
    let response = app.patch(&path).json(&clear).await;
    assert_eq!(response.status(), 200);
    let cleared: Value = response.json().await.expect("JSON");
    for field in optional {
        assert_eq!(cleared[field], Value::Null, "{field}");
    }
}
{% endif %}
{% for field in references %}

#[tokio::test]
async fn {{ field.name }}_must_exist_and_keeps_what_it_refers_to() {
    let app = spawn_app().await;
    let row = create_{{ one }}(&app).await;
    let path = format!("/v1/{{ many }}/{}", row["id"]);
    let target = format!("/v1/{{ field.target.many }}/{}", row["{{ field.name }}"]);

    let response = app.patch(&path).json(&json!({"{{ field.name }}": i64::MAX})).await;
    let (status, code, error) = error_of(response).await;
    assert_eq!((status, code.as_str()), (422, "validation_failed"), "{error}");
    assert_eq!(error["error"]["details"][0]["field"], "{{ field.name }}");

    let (status, code, error) = error_of(app.delete(&target).await).await;
    assert_eq!((status, code.as_str()), (409, "still_referenced"), "{error}");
    assert_eq!(app.get(&target).await.status(), 200, "still there");

    assert_eq!(app.delete(&path).await.status(), 204);
    let freed = app.delete(&target).await;
    assert_eq!(freed.status(), 204, "nothing refers to it any more");
}
{% endfor %}
