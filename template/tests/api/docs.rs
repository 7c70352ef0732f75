//! The OpenAPI document and the docs UI: generated from the code, complete (every route
//! the router serves is in it, with its methods), and served with no outside resource;
//! and the team's guide pages beside them.
use std::process::Command;

use serde_json::Value;

use crate::service::BIN;
use crate::support::app::{TestApp, error_of, spawn_app};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn spec(app: &TestApp) -> Value {
    let response = app.get("/doc/openapi.json").await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("the spec is JSON")
}

/// A concrete path for a templated one: `{id}` becomes a UUID or a number, per its schema.
fn concrete(path: &str, operation: &Value) -> String {
    let mut concrete = path.to_owned();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        if parameter["in"] != "path" {
            continue;
        }
        let name = parameter["name"].as_str().expect("named");
        let value = match parameter["schema"]["format"].as_str() {
            Some("uuid") => "00000000-0000-4000-8000-000000000000",
            _ => "1",
        };
        let template = ["{", name, "}"].concat();
        concrete = concrete.replace(&template, value);
    }
    concrete
}

#[tokio::test]
async fn the_spec_is_served_and_is_what_the_openapi_command_prints() {
    let app = spawn_app().await;

    let served = spec(&app).await;

    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    assert_eq!(served["info"]["title"], env!("CARGO_PKG_NAME"));
    let output = Command::new(BIN)
        .arg("openapi")
        .env("APP_ENV", "test")
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(printed, served);
}

#[tokio::test]
async fn every_documented_operation_is_served_and_every_other_method_is_a_405() {
    let app = spawn_app().await;
    let spec = spec(&app).await;
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.len() >= 8, "{paths:?}");

    for (path, item) in paths {
        for method in METHODS {
            let documented = item.get(method);
            let operation = documented.or_else(|| item.as_object()?.values().next());
            let target = concrete(path, operation.expect("an operation"));
            let request = app
                .request(method.to_uppercase().parse().expect("method"), &target)
                .header("content-type", "application/json")
                .body("{}");
            let response = request.await;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if documented.is_some() {
                assert_ne!(status, 405, "{method} {path} is documented but not served");
                let unknown = status == 404 && body["error"]["message"] == "no such route";
                assert!(!unknown, "{method} {path} is documented but not routed");
                let responses = &item[method]["responses"];
                assert!(
                    responses.get(status.as_str()).is_some(),
                    "{method} {path} answered {status}, which its documentation does not list: {body}"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not documented");
            }
        }
    }
}

#[test]
fn every_api_route_is_registered_through_the_documenting_router() {
    // `routes!(handler)` registers a route and its documentation together; a plain
    // `.route(...)` would serve a path the spec does not list.
    let api = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut files = vec![api.clone()];
    let mut offenders = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("dir")
                    .flatten()
                    .map(|e| e.path()),
            );
            continue;
        }
        // The guide's pages are documentation, not API routes (like Swagger UI's files).
        if path.ends_with("src/api/docs.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if [".route(", ".route_service(", ".nest_service("]
                .iter()
                .any(|call| code.contains(call))
            {
                offenders.push(format!("{}:{}: {line}", path.display(), number + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "undocumented routes:\n{}",
        offenders.join("\n")
    );
}

#[tokio::test]
async fn the_docs_ui_is_served_with_nothing_from_elsewhere() {
    let app = spawn_app().await;

    let page = app.get("/doc/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("HTML");
    assert!(html.contains("swagger-ui"), "{html}");
    let initializer = app.get("/doc/swagger-initializer.js").await;
    assert_eq!(initializer.status(), 200);
    let script = initializer.text().await.expect("JS");
    assert!(script.contains("/doc/openapi.json"), "{script}");
    let validator = script
        .lines()
        .find(|line| line.contains("\"validatorUrl\""));
    assert!(
        validator.is_some_and(|line| line.contains("\"none\"")),
        "no outside validator: {script}"
    );

    for text in [&html, &script] {
        for outside in ["http://", "https://", "//cdn", "unpkg", "jsdelivr"] {
            assert!(!text.contains(outside), "{outside} in\n{text}");
        }
    }
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-ui-standalone-preset.js",
    ] {
        let response = app.get(&format!("/doc/{asset}")).await;
        assert_eq!(response.status(), 200, "{asset} is in the binary");
    }
    assert_eq!(app.get("/doc").await.status(), 200, "redirected to /doc/");
}

/// Every `href="..."` of an HTML page.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|link| link.replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn the_guide_pages_are_served_and_every_link_on_them_resolves() {
    let app = spawn_app().await;
    let base = url::Url::parse(&app.url("/doc/guide/")).expect("URL");

    let start = app.get("/doc/guide").await;
    assert_eq!(start.status(), 200, "redirected to /doc/guide/");
    assert_eq!(start.url().path(), "/doc/guide/");
    let mut pending = vec![base.clone()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(page) = pending.pop() {
        if !seen.insert(page.path().to_owned()) {
            continue;
        }
        let response = app.get(page.path()).await;
        assert_eq!(response.status(), 200, "{page}");
        let kind = response.headers()["content-type"].to_str().expect("ASCII");
        assert!(kind.starts_with("text/html"), "{page}: {kind}");
        let html = response.text().await.expect("HTML");
        for outside in ["<script", "<link", "src=", "http://", "https://"] {
            assert!(!html.contains(outside), "{outside} on {page}");
        }
        for link in links(&html) {
            let target = page.join(&link).expect("a link");
            assert_eq!(target.origin(), base.origin(), "{link} on {page}");
            if let Some(fragment) = target.fragment() {
                let answer = app.get(target.path()).await.text().await.expect("HTML");
                assert!(
                    answer.contains(&format!("id=\"{fragment}\"")),
                    "{link} on {page}: no such heading"
                );
            }
            if target.path().starts_with("/doc/guide/") {
                pending.push(target);
            } else {
                let response = app.get(target.path()).await;
                assert_eq!(response.status(), 200, "{link} on {page}");
            }
        }
    }
    // The starting page, the menu's pages, and the reference they link to.
    for page in [
        "/doc/guide/",
        "/doc/guide/tasks",
        "/doc/guide/errors",
        "/doc/guide/paging",
    ] {
        assert!(
            seen.contains(page),
            "{page} is reached from the start: {seen:?}"
        );
    }
    let start = app.get("/doc/guide/").await.text().await.expect("HTML");
    for concept in ["Resources", "Tasks", "Errors", "Paging", "Request ids"] {
        assert!(
            start.contains(&format!(">{concept}</h2>")),
            "{concept} is explained"
        );
    }
    assert!(start.contains("href=\"../\""), "links to the API reference");

    let (status, code, _) = error_of(app.get("/doc/guide/nothing").await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}
