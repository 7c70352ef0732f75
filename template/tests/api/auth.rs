//! Who may call what: API keys through their whole life, 401 and 403, the routes that stay
//! open, and the caller on log lines and tasks. Tokens from an OpenID provider: `oidc.rs`.
use std::time::Duration;

use sea_orm::EntityTrait;
use serde_json::Value;

use crate::service::auth::keys;
use crate::service::models::api_key;
use crate::support::app::{
    Api, another_instance, error_of, every_permission, make_key, spawn_app, spawn_app_with,
};
use crate::support::database::TestDatabase;
use crate::support::eventually;
use crate::support::process::Process;

/// Checks a 401: its challenge and its JSON error.
async fn assert_unauthorized(response: reqwest::Response, message: &str) {
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let (status, code, body) = error_of(response).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(message)),
        "{message}: {body}"
    );
}

#[tokio::test]
async fn a_call_without_credentials_gets_a_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();

    for path in [
        "/v1/persons",
        "/v1/persons/1",
        "/v1/tasks/3f1c0d5e-4a8b-4c36-9a55-0e6f4b2d7a10",
    ] {
        let response = anonymous.get(path).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{path}");
        assert_unauthorized(response, "credentials are required").await;
    }
    let response = anonymous
        .post_json(
            "/v1/persons",
            &serde_json::json!({"name": "Eve", "age": 30}),
        )
        .await;
    assert_unauthorized(response, "credentials are required").await;
    let listed: Value = app.get("/v1/persons").await.json().await.expect("JSON");
    assert_eq!(
        listed["objects"],
        serde_json::json!([]),
        "nothing was created"
    );
}

#[tokio::test]
async fn bad_keys_and_tokens_get_a_401_that_never_repeats_them() {
    let app = spawn_app().await;
    // The real key with its last character changed, a key that was never made, a key cut
    // short, and tokens that are no JWT.
    let mut altered = app.key.clone();
    let last = if altered.ends_with('A') { 'B' } else { 'A' };
    altered.pop();
    altered.push(last);
    let unknown = format!("sk_000000000000_{}", "A".repeat(43));
    for bad in [
        altered.as_str(),
        unknown.as_str(),
        &app.key[..20],
        "not-a-token",
        "eyJhbGciOiJub25lIn0.e30.",
    ] {
        let response = app.with_credential(bad).get("/v1/persons").await;
        assert_eq!(response.status(), 401, "{bad}");
        let text = response.text().await.expect("text");
        assert!(!text.contains(bad), "the credential is not echoed: {text}");
    }
    // Another scheme than Bearer is no credential at all.
    let response = app
        .anonymous()
        .get("/v1/persons")
        .header("authorization", &format!("Basic {}", app.key))
        .await;
    assert_unauthorized(response, "credentials are required").await;
}

#[tokio::test]
async fn a_caller_without_the_permission_gets_a_403_naming_it() {
    let app = spawn_app().await;
    let reader = app.as_caller("reader", &["persons:read"]).await;
    let person = app.create_person("Ada", 36).await;
    let id = person["id"].as_i64().expect("id");

    assert_eq!(reader.get(&format!("/v1/persons/{id}")).await.status(), 200);
    assert_eq!(reader.get("/v1/persons").await.status(), 200);
    for response in [
        reader
            .post_json(
                "/v1/persons",
                &serde_json::json!({"name": "Eve", "age": 30}),
            )
            .await,
        reader.delete(&format!("/v1/persons/{id}")).await,
        reader.post(&format!("/v1/persons/{id}/birthday")).await,
    ] {
        let challenge = response.headers()["www-authenticate"].clone();
        assert_eq!(
            challenge,
            "Bearer error=\"insufficient_scope\", scope=\"persons:write\""
        );
        let (status, code, body) = error_of(response).await;
        assert_eq!((status, code.as_str()), (403, "forbidden"));
        assert_eq!(
            body["error"]["message"],
            "this needs the permission persons:write"
        );
    }
    let task = reader
        .get("/v1/tasks/3f1c0d5e-4a8b-4c36-9a55-0e6f4b2d7a10")
        .await;
    assert_eq!(task.status(), 403, "tasks:read is another permission");
    let purge = reader
        .post_json(
            "/v1/tasks/purge",
            &serde_json::json!({"older_than_days": 30}),
        )
        .await;
    let (status, _, body) = error_of(purge).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["message"],
        "this needs the permission tasks:admin"
    );
    let person: Value = app
        .get(&format!("/v1/persons/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(person["age"], 36, "nothing ran");
}

#[tokio::test]
async fn the_purge_needs_the_admin_permission_and_records_its_caller() {
    let app = spawn_app().await;
    let admin = app.as_caller("ops", &["tasks:admin"]).await;

    let response = admin
        .post_json(
            "/v1/tasks/purge",
            &serde_json::json!({"older_than_days": 0}),
        )
        .await;

    assert_eq!(response.status(), 202);
    let task: Value = response.json().await.expect("JSON");
    assert_eq!(task["name"], "tasks.purge_finished");
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(task["caller"], "key:ops");
}

#[tokio::test]
async fn the_purge_reads_its_days_as_a_whole_number_within_their_bounds() {
    let app = spawn_app().await;

    // 30.0 is the integer 30 to JSON Schema, as the document says.
    let whole = app
        .post_json(
            "/v1/tasks/purge",
            &serde_json::json!({"older_than_days": 30.0}),
        )
        .await;
    assert_eq!(whole.status(), 202);
    for days in [
        serde_json::json!(65536),
        serde_json::json!(-1),
        serde_json::json!(1.5),
    ] {
        let response = app
            .post_json(
                "/v1/tasks/purge",
                &serde_json::json!({"older_than_days": days}),
            )
            .await;
        let (status, code, _) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (422, "validation_failed"),
            "{days}"
        );
    }
}

#[tokio::test]
async fn monitoring_is_open_and_metrics_and_docs_follow_the_config() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();

    for path in ["/mon/ping", "/mon/ready", "/doc/openapi.json", "/doc/"] {
        assert_eq!(anonymous.get(path).await.status(), 200, "{path}");
    }
    assert_unauthorized(anonymous.get("/metrics").await, "credentials are required").await;
    assert_eq!(app.get("/metrics").await.status(), 200, "with metrics:read");

    let closed = spawn_app_with(|settings| {
        settings.auth.public_docs = false;
        settings.auth.public_metrics = true;
    })
    .await;
    assert_eq!(closed.anonymous().get("/metrics").await.status(), 200);
    for path in ["/doc/openapi.json", "/doc/", "/doc/guide/"] {
        let response = closed.anonymous().get(path).await;
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(
            closed.get(path).await.status(),
            200,
            "{path} with docs:read"
        );
    }
    let spec: Value = closed
        .get("/doc/openapi.json")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        spec["paths"]["/metrics"]["get"]["security"],
        serde_json::json!([{}]),
        "the document says what is enforced"
    );
}

#[tokio::test]
async fn every_api_operation_declares_its_permissions_and_documents_401_and_403() {
    let app = spawn_app().await;
    let spec: Value = app
        .get("/doc/openapi.json")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("methods") {
            let security = &operation["security"];
            if path.starts_with("/mon/") {
                assert_eq!(
                    security,
                    &serde_json::json!([{}]),
                    "{method} {path} is open"
                );
                continue;
            }
            operations += 1;
            let needs: Vec<&str> = security
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|requirement| requirement["bearer"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                !needs.is_empty(),
                "{method} {path} declares no permission: {security}"
            );
            for status in ["401", "403"] {
                assert!(
                    operation["responses"].get(status).is_some(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
    assert!(operations >= 10, "{operations}");
    assert!(every_permission().contains(&"tasks:admin".to_owned()));
}

#[tokio::test]
async fn the_caller_is_recorded_on_the_tasks_it_schedules() {
    let app = spawn_app().await;
    let writer = app
        .as_caller("birthdays", &["persons:write", "tasks:read"])
        .await;
    let person = app.create_person("Ada", 36).await;
    let id = person["id"].as_i64().expect("id");

    let task: Value = writer
        .post(&format!("/v1/persons/{id}/birthday"))
        .await
        .json()
        .await
        .expect("JSON");

    assert_eq!(task["caller"], "key:birthdays");
    let shown: Value = writer
        .get(&format!("/v1/tasks/{}", task["id"].as_str().expect("id")))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(shown["caller"], "key:birthdays");
}

#[tokio::test]
async fn a_key_stops_working_when_it_expires() {
    let app = spawn_app().await;
    let scopes = ["persons:read".to_owned()];
    let made = keys::create(
        app.db().await,
        "brief",
        &scopes,
        Some(Duration::from_secs(2)),
    )
    .await
    .expect("made");
    let brief = app.with_credential(&made.key);
    assert_eq!(brief.get("/v1/persons").await.status(), 200);

    // Remembered only until it expires, never longer.
    let last = eventually(
        Duration::from_secs(10),
        async || brief.get("/v1/persons").await,
        |response| response.status() == 401,
    )
    .await;
    assert_unauthorized(last, "this API key has expired").await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_every_instance_within_the_cache_time() {
    // The bound: `auth.api_keys.cache_secs`, 2 s here (5 s by default).
    let cache = |settings: &mut crate::service::config::Settings| {
        settings.auth.api_keys.cache_secs = 2;
    };
    let app = spawn_app_with(cache).await;
    let other = another_instance(&app, cache).await;
    let scopes = ["persons:read".to_owned()];
    let key = make_key(app.db().await, "revoked-soon", &scopes).await;
    let (one, two) = (
        app.with_credential(&key),
        Api::with_credential(&other.api.address, &key),
    );
    assert_eq!(one.get("/v1/persons").await.status(), 200);
    assert_eq!(two.get("/v1/persons").await.status(), 200);

    assert!(
        keys::revoke(app.db().await, "revoked-soon")
            .await
            .expect("revoked")
    );

    for api in [&one, &two] {
        let last = eventually(
            Duration::from_secs(2 + 3),
            async || api.get("/v1/persons").await,
            |response| response.status() == 401,
        )
        .await;
        assert_unauthorized(last, "this API key was revoked").await;
    }
    // A third instance, which never saw the key, refuses it at once.
    let third = another_instance(&app, cache).await;
    let response = Api::with_credential(&third.api.address, &key)
        .get("/v1/persons")
        .await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn last_use_is_written_in_batches_not_per_request() {
    let flushed = spawn_app_with(|s| s.auth.api_keys.last_used_flush_secs = 1).await;
    let held = spawn_app_with(|s| s.auth.api_keys.last_used_flush_secs = 3600).await;
    for app in [&flushed, &held] {
        for _ in 0..20 {
            assert_eq!(app.get("/v1/persons").await.status(), 200);
        }
    }

    let last_used = async |app: &crate::support::app::TestApp| {
        api_key::Entity::find()
            .one(app.db().await)
            .await
            .expect("read")
            .expect("the tests' key")
            .last_used_at
    };
    let written = eventually(
        Duration::from_secs(10),
        async || last_used(&flushed).await,
        Option::is_some,
    )
    .await;
    assert!(written.is_some(), "written at the next flush");
    assert_eq!(
        last_used(&held).await,
        None,
        "twenty requests wrote nothing: the hour's flush has not come"
    );
}

#[tokio::test]
async fn last_use_noted_since_the_last_write_is_written_at_shutdown() {
    let mut app = spawn_app_with(|s| s.auth.api_keys.last_used_flush_secs = 3600).await;
    assert_eq!(app.get("/v1/persons").await.status(), 200);
    app.stop().await.expect("stopped");

    let key = api_key::Entity::find()
        .one(app.db().await)
        .await
        .expect("read")
        .expect("the tests' key");
    assert!(
        key.last_used_at.is_some(),
        "the hour's write had not come: written as the service stopped"
    );
}

#[tokio::test]
async fn keys_never_reach_the_logs_and_the_caller_does() {
    let database = TestDatabase::create().await;
    let env = vec![
        ("APP__DATABASE__URL".to_owned(), database.url.clone()),
        ("APP__DATABASE__AUTO_MIGRATE".to_owned(), "true".to_owned()),
        ("APP__SERVER__PORT".to_owned(), "0".to_owned()),
        // Everything the service logs, the debug lines included.
        ("APP__LOG__LEVEL".to_owned(), "debug,sqlx=debug".to_owned()),
    ];
    let process = Process::start("serve", &env);
    let address = process.address("serving").await;
    let db = database.connect().await;
    let key = make_key(&db, "ci", &every_permission()).await;
    let reader = make_key(&db, "reader", &["persons:read".to_owned()]).await;
    let api = Api::with_credential(&address, &key);

    let created = api
        .post_json(
            "/v1/persons",
            &serde_json::json!({"name": "Ada", "age": 36}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.expect("JSON")["id"].clone();
    assert_eq!(
        api.post(&format!("/v1/persons/{id}/birthday"))
            .await
            .status(),
        202
    );
    let reader_api = Api::with_credential(&address, &reader);
    assert_eq!(
        reader_api
            .delete(&format!("/v1/persons/{id}"))
            .await
            .status(),
        403
    );
    let mut wrong = key.clone();
    wrong.replace_range(key.len() - 4.., "AAAA");
    assert_eq!(
        Api::with_credential(&address, &wrong)
            .get("/v1/persons")
            .await
            .status(),
        401
    );
    process.wrote("status=403", Duration::from_secs(10)).await;

    let output = process.output();
    for secret in [&key[..], &reader[..], &wrong[..], &key[16..], &reader[16..]] {
        assert!(!output.contains(secret), "a key is in the log:\n{output}");
    }
    assert!(
        output.contains("caller=\"key:ci\""),
        "the caller is on its lines:\n{output}"
    );
    assert!(output.contains("caller=\"key:reader\""), "{output}");
}
