//! A real OpenID Connect provider for the tests: `provider.mjs` beside this file, run by
//! node on the `oidc-provider` package from npm.
//!
//! The package is looked for in `TEST_NODE_MODULES` (a `node_modules` folder holding
//! `oidc-provider`; the starter's `.ci/tools` and the project's CI set it), else in
//! `tests/api/support/oidc/node_modules` (`npm install --prefix tests/api/support/oidc
//! oidc-provider@9`). Without node or the package, the tests that need it are skipped
//! loudly, and fail when `CI` is set.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use base64::Engine;
use serde_json::{Value, json};

use crate::service::config::Settings;
use crate::support::skip;

/// Where the package is: `TEST_NODE_MODULES`, else beside the script.
fn node_modules() -> Option<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/support/oidc");
    let folder = std::env::var_os("TEST_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| here.join("node_modules"));
    folder.join("oidc-provider").is_dir().then_some(folder)
}

/// The provider, running until dropped.
pub struct TestProvider {
    child: Child,
    /// Its issuer URL, `http://127.0.0.1:PORT`.
    pub issuer: String,
    pub audience: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestProvider {
    /// Starts the provider, or skips (loudly; a failure under `CI`) without node or the
    /// package.
    pub fn start() -> Option<Self> {
        let Some(modules) = node_modules() else {
            skip(
                "no oidc-provider package (set TEST_NODE_MODULES, or npm install --prefix \
                 tests/api/support/oidc oidc-provider@9): the OpenID provider tests SKIPPED",
            );
            return None;
        };
        // The script runs from a folder of its own whose node_modules is the package's.
        let dir = tempfile::tempdir().expect("temp dir");
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/support/oidc/provider.mjs");
        std::fs::copy(&script, dir.path().join("provider.mjs")).expect("copy the script");
        std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).expect("link");
        let mut child = match Command::new("node")
            .arg("provider.mjs")
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                skip(&format!(
                    "cannot run node ({error}): the OpenID provider tests SKIPPED"
                ));
                return None;
            }
        };
        let mut first = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the provider says where it listens");
        let started: Value = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("the provider's first line {first:?}: {e}"));
        Some(Self {
            child,
            issuer: started["issuer"].as_str().expect("issuer").to_owned(),
            audience: started["audience"].as_str().expect("audience").to_owned(),
            client: reqwest::Client::new(),
            _dir: dir,
        })
    }

    /// Points `settings` at this provider (keys through discovery).
    pub fn configure(&self, settings: &mut Settings) {
        settings.auth.oidc.issuer = Some(self.issuer.clone());
        settings.auth.oidc.audiences = vec![self.audience.clone()];
    }

    /// A client-credentials token for `client` (`everything` or `reader`) with `scopes`.
    pub async fn token(&self, client: &str, scopes: &str) -> String {
        let body = format!(
            "grant_type=client_credentials&client_id={client}&client_secret={client}-secret&\
             scope={}",
            scopes.replace(' ', "%20")
        );
        let response: Value = self
            .client
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("JSON");
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {response}"))
            .to_owned()
    }

    async fn admin(&self, method: reqwest::Method, what: &str) -> Value {
        self.client
            .request(method, format!("{}/admin/{what}", self.issuer))
            .send()
            .await
            .expect("admin request")
            .json()
            .await
            .expect("JSON")
    }

    /// How many times the provider's keys were fetched so far.
    pub async fn key_fetches(&self) -> u64 {
        self.admin(reqwest::Method::GET, "state").await["fetches"]
            .as_u64()
            .expect("fetches")
    }

    /// Replaces the provider's signing key by a new one.
    pub async fn rotate(&self) {
        self.admin(reqwest::Method::POST, "rotate").await;
    }

    /// Makes the provider's keys unreachable (503), or reachable again.
    pub async fn keys_down(&self, down: bool) {
        let what = if down { "outage" } else { "recover" };
        self.admin(reqwest::Method::POST, what).await;
    }

    /// Claims as the provider's tokens carry them: this issuer, this audience, valid for
    /// five minutes, with `scope`.
    pub fn claims(&self, scope: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer, "aud": self.audience, "sub": "forger",
            "iat": now, "exp": now + 300, "scope": scope,
        })
    }

    /// A token signed RS256 with the provider's own current key, with `header` fields
    /// (`kid` defaults to the key's) and `claims` as given: what only the provider could
    /// make, so that a test can change one claim at a time.
    pub async fn sign(&self, header: Value, claims: &Value) -> String {
        let state = self.admin(reqwest::Method::GET, "state").await;
        let der = base64::engine::general_purpose::STANDARD
            .decode(state["der"].as_str().expect("der"))
            .expect("base64");
        let mut full = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        full.kid = Some(state["kid"].as_str().expect("kid").to_owned());
        if let Some(kid) = header["kid"].as_str() {
            full.kid = Some(kid.to_owned());
        }
        jsonwebtoken::encode(
            &full,
            claims,
            &jsonwebtoken::EncodingKey::from_rsa_der(&der),
        )
        .expect("signed")
    }

    /// The provider's public key, PEM: what anyone can read from its JWKS.
    pub async fn public_key(&self) -> String {
        self.admin(reqwest::Method::GET, "state").await["public"]
            .as_str()
            .expect("public")
            .to_owned()
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
