//! Persons beyond the tests `cargo xtask new resource` wrote (`persons.rs`): the age's
//! range on `PUT` and `PATCH`, paging settings, and how the API answers malformed
//! requests, shown on persons.
use serde_json::{Value, json};

use crate::support::app::{error_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_empty_list_has_no_links() {
    let app = spawn_app().await;

    let body: Value = app.get("/v1/persons").await.json().await.expect("JSON");

    assert_eq!(body, json!({"objects": [], "next": null, "prev": null}));
}

#[tokio::test]
async fn per_page_defaults_to_the_configured_value() {
    let app = spawn_app_with(|settings| settings.api.default_per_page = 2).await;
    for n in 0..3 {
        app.create_person(&format!("person {n}"), n).await;
    }

    let body: Value = app.get("/v1/persons").await.json().await.expect("JSON");

    assert_eq!(body["objects"].as_array().expect("objects").len(), 2);
    assert_eq!(body["next"], "/v1/persons?page=2&per_page=2");
}

#[tokio::test]
async fn bad_paging_parameters_return_400() {
    let app = spawn_app().await;
    for query in [
        "page=0",
        "page=-1",
        "page=abc",
        "per_page=0",
        "per_page=101",
        "per_page=1.5",
        "page=18446744073709551615&per_page=100",
        "sort=name",
    ] {
        let response = app.get(&format!("/v1/persons?{query}")).await;
        let (status, code, body) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "bad_request"),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn wrong_types_missing_and_unknown_fields_return_422() {
    let app = spawn_app().await;
    for body in [
        json!({"name": "Ada", "age": "thirty"}),
        json!({"name": "Ada"}),
        json!({"name": "Ada", "age": 30, "email": "ada@example.com"}),
        json!({"name": "Ada", "age": 3_000_000_000_i64}),
        json!([1, 2]),
    ] {
        let (status, code, _) = error_of(app.post_json("/v1/persons", &body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (422, "validation_failed"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn malformed_json_returns_400() {
    let app = spawn_app().await;

    let response = app
        .post("/v1/persons")
        .header("content-type", "application/json")
        .body(r#"{"name": "Ada", "age": "#)
        .await;

    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
}

#[tokio::test]
async fn a_body_without_json_content_type_returns_415() {
    let app = spawn_app().await;

    let response = app
        .post("/v1/persons")
        .header("content-type", "text/plain")
        .body(r#"{"name": "Ada", "age": 36}"#)
        .await;

    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));
}

#[tokio::test]
async fn a_body_over_the_limit_returns_413() {
    let app = spawn_app_with(|settings| settings.server.body_limit_bytes = 1024).await;
    let name = "x".repeat(2048);

    let response = app
        .post_json("/v1/persons", &json!({"name": name, "age": 1}))
        .await;

    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
}

#[tokio::test]
async fn put_replaces_every_field() {
    let app = spawn_app().await;
    let person = app.create_person("Ada", 36).await;
    let path = format!("/v1/persons/{}", person["id"]);

    let response = app
        .put(&path)
        .json(&json!({"name": "Grace Hopper", "age": 85}))
        .await;

    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.expect("JSON");
    assert_eq!(updated["name"], "Grace Hopper");
    assert_eq!(updated["age"], 85);
    assert_eq!(updated["created_at"], person["created_at"]);

    let partial = app.put(&path).json(&json!({"age": 1})).await;
    assert_eq!(partial.status(), 422, "PUT needs every field");
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    let app = spawn_app().await;
    let person = app.create_person("Ada", 36).await;
    let path = format!("/v1/persons/{}", person["id"]);

    let response = app.patch(&path).json(&json!({"age": 37})).await;

    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.expect("JSON");
    assert_eq!(updated["name"], "Ada");
    assert_eq!(updated["age"], 37);

    let invalid = app.patch(&path).json(&json!({"age": 200})).await;
    assert_eq!(invalid.status(), 422);
    let unchanged: Value = app.get(&path).await.json().await.expect("JSON");
    assert_eq!(unchanged["age"], 37);
}
