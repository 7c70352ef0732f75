use crate::helpers::spawn_app;

#[tokio::test]
async fn ping_answers_ok() {
    let app = spawn_app().await;

    let response = app.get("/mon/ping").await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
}
