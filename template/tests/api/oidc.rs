//! Bearer tokens from a real OpenID Connect provider (`oidc-provider`, run by node: see
//! `support/oidc.rs`): client-credentials tokens accepted with the permissions of their
//! scopes, forged ones refused, a key rotation followed without a restart, and made-up
//! key ids kept from flooding the provider.
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::app::{TestApp, error_of, spawn_app_with};
use crate::support::eventually;
use crate::support::oidc::TestProvider;

async fn service_for(provider: &TestProvider) -> TestApp {
    let app = spawn_app_with(|settings| provider.configure(settings)).await;
    // The keys are fetched in the background at start.
    eventually(
        Duration::from_secs(10),
        async || provider.key_fetches().await,
        |fetches| *fetches >= 1,
    )
    .await;
    app
}

/// The base64url text of `value`'s JSON, as a JWT part.
fn part(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn client_credentials_tokens_give_the_permissions_of_their_scopes() {
    let Some(provider) = TestProvider::start() else {
        return;
    };
    let app = service_for(&provider).await;
    let person = app.create_person("Ada", 36).await;
    let id = person["id"].as_i64().expect("id");

    let writer = app.with_credential(
        &provider
            .token("everything", "persons:read persons:write")
            .await,
    );
    let reader = app.with_credential(&provider.token("reader", "persons:read").await);

    assert_eq!(reader.get(&format!("/v1/persons/{id}")).await.status(), 200);
    let (status, _, body) =
        error_of(reader.post(&format!("/v1/persons/{id}/birthday")).await).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["message"],
        "this needs the permission persons:write"
    );

    let task: Value = writer
        .post(&format!("/v1/persons/{id}/birthday"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(task["caller"], "sub:everything", "the token's subject");
    let (status, _, _) = error_of(
        writer
            .get(&format!("/v1/tasks/{}", task["id"].as_str().expect("id")))
            .await,
    )
    .await;
    assert_eq!(status, 403, "tasks:read was not asked for");
}

#[tokio::test]
async fn forged_tokens_are_each_refused_with_a_401() {
    let Some(provider) = TestProvider::start() else {
        return;
    };
    let app = service_for(&provider).await;
    let real = provider.token("everything", "persons:read").await;
    assert_eq!(
        app.with_credential(&real).get("/v1/persons").await.status(),
        200
    );
    let now = chrono::Utc::now().timestamp();
    let scope = "persons:read";

    let mut cases: Vec<(&str, String)> = Vec::new();
    // Signed by the provider's own key, with one claim wrong.
    for (name, claim, value) in [
        ("expired", "exp", json!(now - 120)),
        ("not yet valid", "nbf", json!(now + 600)),
        ("wrong issuer", "iss", json!("http://127.0.0.1:1")),
        ("wrong audience", "aud", json!("another-api")),
    ] {
        let mut claims = provider.claims(scope);
        claims[claim] = value;
        cases.push((name, provider.sign(json!({}), &claims).await));
    }
    // Unsigned.
    let kid = jsonwebtoken::decode_header(&real)
        .expect("header")
        .kid
        .expect("kid");
    let none = json!({"alg": "none", "typ": "JWT", "kid": kid});
    cases.push((
        "alg none",
        format!("{}.{}.", part(&none), part(&provider.claims(scope))),
    ));
    // HS256 with the provider's public key (which anyone can read) as the secret.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.clone());
    let public = provider.public_key().await;
    let confused = jsonwebtoken::encode(
        &header,
        &provider.claims(scope),
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .expect("signed");
    cases.push(("HS256 with the public key", confused));
    // A real token whose signature was changed.
    let (signed, signature) = real.rsplit_once('.').expect("three parts");
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64");
    bytes[10] ^= 0x01;
    let tampered = format!(
        "{signed}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    cases.push(("tampered signature", tampered));
    // A real token's claims changed under its signature.
    let (head, rest) = real.split_once('.').expect("parts");
    let (_, signature) = rest.split_once('.').expect("parts");
    let mut claims = provider.claims("persons:read persons:write tasks:admin");
    claims["sub"] = json!("everything");
    cases.push((
        "claims changed",
        format!("{head}.{}.{signature}", part(&claims)),
    ));
    // A key id the provider never had.
    cases.push((
        "unknown kid",
        provider
            .sign(json!({"kid": "made-up"}), &provider.claims(scope))
            .await,
    ));

    for (name, token) in cases {
        let response = app.with_credential(&token).get("/v1/persons").await;
        assert_eq!(response.status(), 401, "{name}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .is_ok_and(|c| c.starts_with("Bearer error=\"invalid_token\"")),
            "{name}"
        );
        let (_, code, body) = error_of(response).await;
        assert_eq!(code, "unauthorized", "{name}: {body}");
    }
    // The same claims, well signed, pass: the cases above failed for their one flaw.
    let fine = provider.sign(json!({}), &provider.claims(scope)).await;
    assert_eq!(
        app.with_credential(&fine).get("/v1/persons").await.status(),
        200
    );
}

#[tokio::test]
async fn a_key_rotation_is_followed_without_a_restart() {
    let Some(provider) = TestProvider::start() else {
        return;
    };
    let app = service_for(&provider).await;
    let before = provider.token("everything", "persons:read").await;
    assert_eq!(
        app.with_credential(&before)
            .get("/v1/persons")
            .await
            .status(),
        200
    );

    provider.rotate().await;
    let after = provider.token("everything", "persons:read").await;
    assert_ne!(
        jsonwebtoken::decode_header(&after).expect("header").kid,
        jsonwebtoken::decode_header(&before).expect("header").kid,
        "signed with the new key"
    );

    assert_eq!(
        app.with_credential(&after)
            .get("/v1/persons")
            .await
            .status(),
        200
    );
    assert_eq!(
        provider.key_fetches().await,
        2,
        "fetched once more for the new key id"
    );
}

#[tokio::test]
async fn made_up_key_ids_fetch_the_keys_at_most_once_per_period() {
    let Some(provider) = TestProvider::start() else {
        return;
    };
    let app = service_for(&provider).await;
    let before = provider.key_fetches().await;

    let claims = provider.claims("persons:read");
    let mut refused = 0;
    for n in 0..50 {
        let token = provider
            .sign(json!({"kid": format!("made-up-{n}")}), &claims)
            .await;
        if app
            .with_credential(&token)
            .get("/v1/persons")
            .await
            .status()
            == 401
        {
            refused += 1;
        }
    }

    assert_eq!(refused, 50);
    let fetched = provider.key_fetches().await - before;
    // auth.oidc.unknown_key_refresh_secs (30 s) apart: one fetch for fifty made-up ids.
    assert_eq!(fetched, 1, "{fetched} fetches");
}

#[tokio::test]
async fn tokens_get_503_until_the_providers_keys_arrive_and_keys_work_meanwhile() {
    let Some(provider) = TestProvider::start() else {
        return;
    };
    provider.keys_down(true).await;
    let app = spawn_app_with(|settings| provider.configure(settings)).await;
    let token = provider.token("everything", "persons:read").await;

    let response = app.with_credential(&token).get("/v1/persons").await;
    assert_eq!(response.headers()["retry-after"], "2");
    let (status, code, body) = error_of(response).await;
    assert_eq!((status, code.as_str()), (503, "unavailable"), "{body}");
    assert_eq!(
        app.get("/v1/persons").await.status(),
        200,
        "API keys need no provider"
    );

    provider.keys_down(false).await;
    let last = eventually(
        Duration::from_secs(20),
        async || {
            app.with_credential(&token)
                .get("/v1/persons")
                .await
                .status()
        },
        |status| *status == 200,
    )
    .await;
    assert_eq!(last, 200, "the keys arrived without a restart");
}
