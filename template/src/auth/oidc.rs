//! Bearer tokens from an OpenID Connect provider: JWTs checked against the provider's
//! published keys (its JWKS).
//!
//! Checked: the signature, with a key of the provider's set named by the token's `kid`
//! and only with the algorithm that key is for (an RSA key never checks an HS256 token;
//! `none` is never accepted; HS256 only with `hs256_secret`), then `iss`, `aud`, `exp` and
//! `nbf` (with `leeway_secs`). The keys are fetched in the background at start, then every
//! `refresh_secs`, and once more when a token names a key the set lacks (a rotation), at
//! most once per `unknown_key_refresh_secs` however many made-up key ids arrive. Until the
//! first fetch succeeds, tokens get [`AuthError::KeysUnavailable`] (a 503), never a 500.
//!
//! The keys come over the HTTP client the service already has (ureq, through rustls and
//! ring, the system's CAs plus `ca_file`), in a blocking thread.
use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::{AuthError, Identity, until_unix};
use crate::config::{OidcSettings, TokenAlgorithm};

/// The largest key set or discovery document read.
const MAX_DOCUMENT_BYTES: u64 = 1 << 20;
/// The most keys kept from one set.
const MAX_KEYS: usize = 100;
/// The longest token checked.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The first wait before fetching the keys again after a failure; it doubles up to
/// [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// The provider's keys and how tokens are checked against them.
#[derive(Clone)]
pub struct Oidc(Arc<Provider>);

struct Provider {
    issuer: String,
    audiences: Vec<String>,
    /// As configured; else found through discovery.
    jwks_url: Option<String>,
    algorithms: Vec<Algorithm>,
    hs256: Option<DecodingKey>,
    leeway: u64,
    refresh_every: Duration,
    unknown_key_every: Duration,
    /// The roles claim's path (`realm_access.roles` → `["realm_access", "roles"]`).
    roles_claim: Option<Vec<String>>,
    agent: ureq::Agent,
    /// The key set; `None` until the first fetch succeeds.
    keys: RwLock<Option<Arc<KeySet>>>,
    /// When keys were last fetched for an unknown key id; one fetch at a time.
    unknown_key_fetch: tokio::sync::Mutex<Option<Instant>>,
}

/// The provider's signing keys by key id, each with the one algorithm it checks.
struct KeySet {
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
}

/// Why the keys could not be fetched.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0}")]
    Http(#[from] ureq::Error),
    #[error("{0}")]
    Document(String),
}

impl Oidc {
    /// A checker for `settings`, or none when no issuer is configured. Nothing is fetched
    /// yet: see [`Oidc::spawn_refresher`].
    pub fn new(settings: &OidcSettings) -> Result<Option<Self>, String> {
        let Some(issuer) = &settings.issuer else {
            return Ok(None);
        };
        let timeout = Duration::from_secs(settings.timeout_secs);
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(root_certificates(
                settings.ca_file.as_deref(),
            )?)))
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_redirects(3)
            .tls_config(tls)
            .build()
            .into();
        let mut algorithms: Vec<Algorithm> =
            settings.algorithms.iter().map(|a| algorithm(*a)).collect();
        let hs256 = settings.hs256_secret.as_ref().map(|secret| {
            algorithms.push(Algorithm::HS256);
            DecodingKey::from_secret(secret.expose().as_bytes())
        });
        Ok(Some(Self(Arc::new(Provider {
            issuer: issuer.clone(),
            audiences: settings.audiences.clone(),
            jwks_url: settings.jwks_url.clone(),
            algorithms,
            hs256,
            leeway: settings.leeway_secs,
            refresh_every: Duration::from_secs(settings.refresh_secs),
            unknown_key_every: Duration::from_secs(settings.unknown_key_refresh_secs),
            roles_claim: settings
                .roles_claim
                .as_ref()
                .map(|claim| claim.split('.').map(str::to_owned).collect()),
            agent,
            keys: RwLock::new(None),
            unknown_key_fetch: tokio::sync::Mutex::new(None),
        }))))
    }

    /// Fetches the keys now, then every `refresh_secs` (sooner while fetches fail), as
    /// long as this checker lives.
    pub fn spawn_refresher(&self) {
        let provider: Weak<Provider> = Arc::downgrade(&self.0);
        let issuer = self.0.issuer.clone();
        tokio::spawn(async move {
            let mut retry = RETRY_FIRST;
            let mut failing = false;
            loop {
                let Some(provider) = provider.upgrade() else {
                    return;
                };
                let oidc = Oidc(provider);
                let wait = match oidc.fetch().await {
                    Ok(count) => {
                        if failing {
                            tracing::info!(
                                issuer,
                                keys = count,
                                "the identity provider's keys arrived"
                            );
                        }
                        failing = false;
                        retry = RETRY_FIRST;
                        oidc.0.refresh_every
                    }
                    Err(error) => {
                        let loaded = oidc.loaded();
                        if !failing {
                            // Said once per outage, not at every retry.
                            tracing::warn!(
                                issuer,
                                %error,
                                "cannot fetch the identity provider's keys; {}",
                                if loaded {
                                    "tokens are checked with the keys fetched before"
                                } else {
                                    "requests with tokens get 503 until the keys arrive"
                                }
                            );
                        }
                        failing = true;
                        let wait = retry;
                        retry = (retry * 2).min(RETRY_MAX);
                        wait
                    }
                };
                drop(oidc);
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// Whether a key set was fetched.
    fn loaded(&self) -> bool {
        self.0
            .keys
            .read()
            .map(|keys| keys.is_some())
            .unwrap_or(false)
    }

    /// Fetches the key set (through discovery when no `jwks_url` is configured) and puts
    /// it in place of the old one; returns how many keys it holds.
    async fn fetch(&self) -> Result<usize, FetchError> {
        let provider = self.0.clone();
        let set = tokio::task::spawn_blocking(move || provider.download())
            .await
            .map_err(|error| FetchError::Document(error.to_string()))??;
        let count = set.by_kid.len();
        if let Ok(mut keys) = self.0.keys.write() {
            *keys = Some(Arc::new(set));
        }
        tracing::debug!(keys = count, "fetched the identity provider's keys");
        Ok(count)
    }

    /// The identity `token` proves, and how long until it expires.
    pub async fn verify(&self, token: &str) -> Result<(Identity, Duration), AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("the token is too long"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("not a valid token"))?;
        if !self.0.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid("the token's algorithm is not accepted"));
        }
        if header.alg == Algorithm::HS256 {
            let key = self
                .0
                .hs256
                .as_ref()
                .ok_or(AuthError::Invalid("the token's algorithm is not accepted"))?;
            return self.check(token, key, Algorithm::HS256);
        }
        let kid = header
            .kid
            .ok_or(AuthError::Invalid("the token names no key (kid)"))?;
        let (key, alg) = match self.key(&kid)? {
            Some(found) => found,
            None => {
                self.fetch_for_unknown_key().await;
                self.key(&kid)?
                    .ok_or(AuthError::Invalid("the token is signed by an unknown key"))?
            }
        };
        if alg != header.alg {
            return Err(AuthError::Invalid(
                "the token's algorithm does not fit its key",
            ));
        }
        self.check(token, &key, alg)
    }

    /// The key named `kid`; `Err` while no key set was ever fetched.
    fn key(&self, kid: &str) -> Result<Option<(DecodingKey, Algorithm)>, AuthError> {
        let keys = self.0.keys.read().map_err(|_| AuthError::KeysUnavailable)?;
        let set = keys.as_ref().ok_or(AuthError::KeysUnavailable)?;
        Ok(set.by_kid.get(kid).cloned())
    }

    /// Fetches the keys again for a key id the set lacks, unless that was done less than
    /// `unknown_key_refresh_secs` ago; callers arriving meanwhile wait for the fetch under
    /// way rather than start their own.
    async fn fetch_for_unknown_key(&self) {
        let mut last = self.0.unknown_key_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.0.unknown_key_every) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(error) = self.fetch().await {
            tracing::warn!(%error, "cannot fetch the identity provider's keys for an unknown key id");
        }
    }

    /// Checks the signature (with `key`, for `alg` only) and the claims.
    fn check(
        &self,
        token: &str,
        key: &DecodingKey,
        alg: Algorithm,
    ) -> Result<(Identity, Duration), AuthError> {
        let mut validation = Validation::new(alg);
        validation.leeway = self.0.leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.0.issuer]);
        validation.set_audience(&self.0.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Value>(token, key, &validation).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            AuthError::Invalid(match error.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidIssuer => "the token is from another issuer",
                ErrorKind::InvalidAudience => "the token is for another audience",
                ErrorKind::InvalidSignature => "the token's signature is wrong",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "not a valid token",
            })
        })?;
        let claims = data.claims;
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        Ok((self.identity(&claims), until_unix(exp)))
    }

    /// The caller and permissions a token's claims give.
    fn identity(&self, claims: &Value) -> Identity {
        let subject = ["sub", "client_id", "azp"]
            .iter()
            .find_map(|name| claims.get(*name).and_then(Value::as_str))
            .unwrap_or("unknown");
        let mut permissions = Vec::new();
        for claim in ["scope", "scp"] {
            words(claims.get(claim), &mut permissions);
        }
        if let Some(path) = &self.0.roles_claim {
            let roles = path
                .iter()
                .try_fold(claims, |value, name| value.get(name.as_str()));
            words(roles, &mut permissions);
        }
        Identity::new(format!("sub:{subject}"), permissions, None)
    }
}

/// The words of a claim: a space-separated string, or an array of strings.
fn words(claim: Option<&Value>, out: &mut Vec<String>) {
    match claim {
        Some(Value::String(text)) => out.extend(text.split_whitespace().map(str::to_owned)),
        Some(Value::Array(items)) => {
            out.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        _ => {}
    }
}

impl Provider {
    /// The key set, from `jwks_url` or through discovery (blocking).
    fn download(&self) -> Result<KeySet, FetchError> {
        let url = match &self.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    self.issuer.trim_end_matches('/')
                );
                let document = self.get_json(&discovery)?;
                if document.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
                    return Err(FetchError::Document(format!(
                        "the discovery document at {discovery} names another issuer"
                    )));
                }
                document
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| FetchError::Document(format!("{discovery} has no jwks_uri")))?
                    .to_owned()
            }
        };
        let document = self.get_json(&url)?;
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| FetchError::Document(format!("{url} holds no `keys`")))?;
        let by_kid = keys
            .iter()
            .take(MAX_KEYS)
            .filter_map(|key| self.signing_key(key))
            .collect();
        Ok(KeySet { by_kid })
    }

    fn get_json(&self, url: &str) -> Result<Value, FetchError> {
        let text = self
            .agent
            .get(url)
            .header("accept", "application/json")
            .call()?
            .body_mut()
            .with_config()
            .limit(MAX_DOCUMENT_BYTES)
            .read_to_string()?;
        serde_json::from_str(&text)
            .map_err(|error| FetchError::Document(format!("{url}: not JSON: {error}")))
    }

    /// A key of the set, with the one algorithm it checks, if it is a signing key of an
    /// accepted algorithm with a key id (symmetric keys are never taken from a set).
    fn signing_key(&self, value: &Value) -> Option<(String, (DecodingKey, Algorithm))> {
        if value
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            return None;
        }
        let kid = value.get("kid")?.as_str()?.to_owned();
        let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
        let alg = match value.get("alg").and_then(Value::as_str) {
            Some(name) => name.parse::<Algorithm>().ok()?,
            // A key without `alg`: the one its type implies.
            None => match (
                value.get("kty")?.as_str()?,
                value.get("crv").and_then(Value::as_str),
            ) {
                ("RSA", _) => Algorithm::RS256,
                ("EC", Some("P-256")) => Algorithm::ES256,
                ("EC", Some("P-384")) => Algorithm::ES384,
                ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
                _ => return None,
            },
        };
        let family_fits = matches!(
            (value.get("kty")?.as_str()?, alg),
            (
                "RSA",
                Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
            ) | (
                "RSA",
                Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512
            ) | ("EC", Algorithm::ES256 | Algorithm::ES384)
                | ("OKP", Algorithm::EdDSA)
        );
        if !family_fits || !self.algorithms.contains(&alg) {
            return None;
        }
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        Some((kid, (key, alg)))
    }
}

fn algorithm(alg: TokenAlgorithm) -> Algorithm {
    match alg {
        TokenAlgorithm::RS256 => Algorithm::RS256,
        TokenAlgorithm::RS384 => Algorithm::RS384,
        TokenAlgorithm::RS512 => Algorithm::RS512,
        TokenAlgorithm::PS256 => Algorithm::PS256,
        TokenAlgorithm::PS384 => Algorithm::PS384,
        TokenAlgorithm::PS512 => Algorithm::PS512,
        TokenAlgorithm::ES256 => Algorithm::ES256,
        TokenAlgorithm::ES384 => Algorithm::ES384,
        TokenAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// The system's CA certificates plus those of `ca_file`.
fn root_certificates(
    ca_file: Option<&std::path::Path>,
) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let mut roots: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|error| {
            format!("cannot read auth.oidc.ca_file {}: {error}", path.display())
        })?;
        for item in ureq::tls::parse_pem(&pem) {
            if let Ok(ureq::tls::PemItem::Certificate(cert)) = item {
                roots.push(cert);
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::config::Secret;

    const SECRET: &str = "an HS256 secret of thirty-two bytes or more";

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: Some("http://127.0.0.1:1/issuer".into()),
            audiences: vec!["api".into()],
            jwks_url: None,
            algorithms: vec![TokenAlgorithm::RS256],
            hs256_secret: Some(Secret::new(SECRET.into())),
            leeway_secs: 0,
            refresh_secs: 600,
            unknown_key_refresh_secs: 30,
            roles_claim: Some("realm_access.roles".into()),
            ca_file: None,
            timeout_secs: 1,
        }
    }

    fn hs256(claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("token")
    }

    fn claims() -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": "http://127.0.0.1:1/issuer", "aud": ["other", "api"], "sub": "svc-a",
            "exp": now + 60, "nbf": now - 1, "scope": "persons:read tasks:read",
            "realm_access": {"roles": ["tasks:admin"]},
        })
    }

    #[tokio::test]
    async fn an_hs256_token_with_the_shared_secret_is_read_into_an_identity() {
        let oidc = Oidc::new(&settings()).expect("built").expect("on");
        let (identity, expires_in) = oidc.verify(&hs256(claims())).await.expect("valid");
        assert_eq!(identity.caller(), "sub:svc-a");
        for permission in ["persons:read", "tasks:read", "tasks:admin"] {
            assert!(identity.has(permission), "{permission}");
        }
        assert!(expires_in <= Duration::from_secs(60));
    }

    #[tokio::test]
    async fn claims_are_checked() {
        let oidc = Oidc::new(&settings()).expect("built").expect("on");
        let now = chrono::Utc::now().timestamp();
        for (name, value, why) in [
            ("exp", json!(now - 10), "the token has expired"),
            ("nbf", json!(now + 60), "the token is not valid yet"),
            (
                "iss",
                json!("http://elsewhere"),
                "the token is from another issuer",
            ),
            (
                "aud",
                json!("someone-else"),
                "the token is for another audience",
            ),
        ] {
            let mut claims = claims();
            claims[name] = value;
            let error = oidc.verify(&hs256(claims)).await.expect_err(name);
            assert_eq!(error.to_string(), why, "{name}");
        }
        let mut claims = claims();
        claims.as_object_mut().map(|c| c.remove("aud"));
        assert!(
            oidc.verify(&hs256(claims)).await.is_err(),
            "aud is required"
        );
    }

    #[tokio::test]
    async fn hs256_needs_its_secret_and_asymmetric_tokens_need_keys() {
        let mut without = settings();
        without.hs256_secret = None;
        let oidc = Oidc::new(&without).expect("built").expect("on");
        let error = oidc.verify(&hs256(claims())).await.expect_err("refused");
        assert_eq!(error.to_string(), "the token's algorithm is not accepted");

        // An RS256 token before any key set arrived: unavailable (503), not invalid.
        let header = r#"{"alg":"RS256","kid":"k1"}"#;
        let b64 =
            |s: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s);
        let token = format!("{}.{}.c2ln", b64(header), b64(&claims().to_string()));
        let error = oidc.verify(&token).await.expect_err("no keys");
        assert!(matches!(error, AuthError::KeysUnavailable), "{error:?}");

        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none"}"#),
            b64(&claims().to_string())
        );
        assert!(matches!(
            oidc.verify(&none).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn only_signing_keys_of_accepted_algorithms_are_kept() {
        let oidc = Oidc::new(&settings()).expect("built").expect("on");
        let rsa = json!({"kty": "RSA", "kid": "r", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"});
        assert!(oidc.0.signing_key(&rsa).is_some(), "RS256 by its type");
        let mut encryption = rsa.clone();
        encryption["use"] = json!("enc");
        assert!(oidc.0.signing_key(&encryption).is_none());
        let mut hs = rsa.clone();
        hs["alg"] = json!("HS256");
        assert!(
            oidc.0.signing_key(&hs).is_none(),
            "an RSA key never checks HS256"
        );
        let oct = json!({"kty": "oct", "kid": "o", "k": "c2VjcmV0", "alg": "HS256"});
        assert!(
            oidc.0.signing_key(&oct).is_none(),
            "no symmetric key from a set"
        );
        let mut es = rsa;
        es["alg"] = json!("ES256");
        assert!(
            oidc.0.signing_key(&es).is_none(),
            "ES256 is not accepted here"
        );
    }
}
