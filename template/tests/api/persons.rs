//! `/v1/persons` over HTTP (`cargo xtask new resource` wrote this file).
use serde_json::{Value, json};

use crate::support::app::{TestApp, error_of, spawn_app};

/// A valid body for a new person.
pub async fn new_person(_app: &TestApp) -> Value {
    json!({
        "name": "first",
        "age": 150,
    })
}

/// Creates a person and returns its JSON.
pub async fn create_person(app: &TestApp) -> Value {
    let body = new_person(app).await;
    let response = app.post_json("/v1/persons", &body).await;
    assert_eq!(response.status(), 201, "person created");
    response.json().await.expect("JSON body")
}

/// Checks that `row` has each field of `body`, as sent.
fn assert_fields(row: &Value, body: &Value) {
    for (field, value) in body.as_object().expect("an object") {
        assert_eq!(&row[field], value, "{field}");
    }
}

#[tokio::test]
async fn persons_are_created_read_listed_replaced_changed_and_deleted() {
    let app = spawn_app().await;
    let body = new_person(&app).await;

    let response = app.post_json("/v1/persons", &body).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let created: Value = response.json().await.expect("JSON");
    assert_eq!(location, format!("/v1/persons/{}", created["id"]));
    assert_fields(&created, &body);
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());

    let fetched: Value = app.get(&location).await.json().await.expect("JSON");
    assert_eq!(fetched, created);
    let listed: Value = app.get("/v1/persons").await.json().await.expect("JSON");
    assert_eq!(
        listed,
        json!({"objects": [created], "next": null, "prev": null})
    );

    let replacement = json!({
        "name": "second",
        "age": 0,
    });
    let response = app.put(&location).json(&replacement).await;
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.expect("JSON");
    assert_fields(&replaced, &replacement);
    assert_eq!(replaced["created_at"], created["created_at"]);

    let change = json!({"name": body["name"]});
    let response = app.patch(&location).json(&change).await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.expect("JSON");
    assert_eq!(changed["name"], body["name"]);
    assert_eq!(changed["age"], replaced["age"], "age");

    let deleted = app.delete(&location).await;
    assert_eq!(deleted.status(), 204);
    let (status, code, _) = error_of(app.get(&location).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn persons_need_credentials_and_their_permissions() {
    let app = spawn_app().await;
    let body = new_person(&app).await;

    let (status, code, _) = error_of(app.anonymous().get("/v1/persons").await).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let reader = app.as_caller("persons-reader", &["persons:read"]).await;
    assert_eq!(reader.get("/v1/persons").await.status(), 200);
    let (status, _, error) = error_of(reader.post_json("/v1/persons", &body).await).await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(
        error["error"]["message"],
        "this needs the permission persons:write"
    );
    let writer = app.as_caller("persons-writer", &["persons:write"]).await;
    assert_eq!(writer.post_json("/v1/persons", &body).await.status(), 201);
    let (status, _, _) = error_of(writer.get("/v1/persons").await).await;
    assert_eq!(status, 403, "reading needs persons:read");
}

#[tokio::test]
async fn an_unknown_person_is_a_404_and_a_bad_id_a_400() {
    let app = spawn_app().await;
    let body = new_person(&app).await;
    let path = "/v1/persons/4242";

    let (status, code, _) = error_of(app.get(path).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    for method in [reqwest::Method::PUT, reqwest::Method::PATCH] {
        let response = app.request(method.clone(), path).json(&body).await;
        assert_eq!(error_of(response).await.0, 404, "{method}");
    }
    assert_eq!(error_of(app.delete(path).await).await.0, 404);
    let (status, code, _) = error_of(app.get("/v1/persons/abc").await).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
}

#[tokio::test]
async fn invalid_fields_return_422_naming_each_field() {
    let app = spawn_app().await;
    let mut body = new_person(&app).await;
    body["name"] = json!("   ");
    body["age"] = json!(-1);
    let (status, code, error) = error_of(app.post_json("/v1/persons", &body).await).await;
    assert_eq!(
        (status, code.as_str()),
        (422, "validation_failed"),
        "{error}"
    );
    let fields: Vec<&str> = error["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["name", "age"]);

    // Wrong types, missing and unknown fields are 422s too, named in the message.
    let mut wrong = new_person(&app).await;
    wrong["name"] = json!(42);
    let (status, _, error) = error_of(app.post_json("/v1/persons", &wrong).await).await;
    assert_eq!(status, 422, "{error}");
    assert!(error.to_string().contains("name"), "{error}");
    let mut unknown = new_person(&app).await;
    unknown["no_such_field"] = json!(1);
    let (status, _, error) = error_of(app.post_json("/v1/persons", &unknown).await).await;
    assert_eq!(status, 422, "{error}");
    assert!(error.to_string().contains("no_such_field"), "{error}");
    let mut missing = new_person(&app).await;
    missing.as_object_mut().expect("an object").remove("name");
    let (status, _, error) = error_of(app.post_json("/v1/persons", &missing).await).await;
    assert_eq!(status, 422, "{error}");
    assert!(error.to_string().contains("name"), "{error}");
    let list: Value = app.get("/v1/persons").await.json().await.expect("JSON");
    assert_eq!(list["objects"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn lists_page_in_creation_order_with_next_and_prev_links() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create_person(&app).await["id"].clone());
    }
    let ids_of = |page: &Value| -> Vec<Value> {
        page["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .map(|object| object["id"].clone())
            .collect()
    };

    let first: Value = app
        .get("/v1/persons?per_page=2")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(ids_of(&first), ids[..2]);
    assert_eq!(first["next"], "/v1/persons?page=2&per_page=2");
    assert_eq!(first["prev"], Value::Null);

    let second: Value = app
        .get("/v1/persons?page=2&per_page=2")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(ids_of(&second), ids[2..]);
    assert_eq!(second["next"], Value::Null);
    assert_eq!(second["prev"], "/v1/persons?page=1&per_page=2");
}
