//! Who may call the API: API keys, bearer tokens from an OpenID Connect provider, and
//! which routes need neither (see `src/auth/`).
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Environment, Secret};

/// Identity and permissions: each route of the API declares the permission it needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Check callers. Off, anyone may call every route (said loudly at start).
    pub enabled: bool,
    /// Lets `prod` run with `enabled: false`, when something in front of the service
    /// checks every caller; prod refuses to start open without it.
    pub allow_open_in_prod: bool,
    /// `/doc` (Swagger UI, the guide and `/doc/openapi.json`) needs no credentials.
    pub public_docs: bool,
    /// `/metrics` needs no credentials; else it needs the `metrics:read` permission.
    pub public_metrics: bool,
    /// Most verified credentials (tokens and keys) remembered at once, so that a reused one
    /// costs no signature check and no database read.
    pub cache_capacity: usize,
    pub api_keys: ApiKeySettings,
    pub oidc: OidcSettings,
}

/// Keys made by `keys create`, stored hashed in the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettings {
    /// A key is read from the database again after this long: the bound on how long a
    /// revoked key still works on an instance that used it just before.
    pub cache_secs: u64,
    /// How often the time keys were last used is written to the database (one statement
    /// for all keys used meanwhile, never one per request).
    pub last_used_flush_secs: u64,
}

/// Bearer tokens (JWTs) from an OpenID Connect provider: Keycloak, Auth0, Entra ID,
/// Cognito, Google ... Off while `issuer` is unset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer URL, exactly as tokens name it in `iss`.
    pub issuer: Option<String>,
    /// Accepted `aud` values: a token must name one of them.
    pub audiences: Vec<String>,
    /// Where the provider's signing keys are; by default the `jwks_uri` of the issuer's
    /// `/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// Accepted signature algorithms, all asymmetric. `none` never is; HS256 only through
    /// `hs256_secret`.
    pub algorithms: Vec<TokenAlgorithm>,
    /// A shared secret (at least 32 bytes) for HS256 tokens; HS256 is refused without it.
    pub hs256_secret: Option<Secret<String>>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// How often the signing keys are fetched again.
    pub refresh_secs: u64,
    /// A token signed by a key the service does not know makes it fetch the keys again,
    /// at most once per this many seconds (a flood of made-up key ids costs the provider
    /// one request per period).
    pub unknown_key_refresh_secs: u64,
    /// A claim holding more permissions (roles), besides `scope`/`scp`: `roles`
    /// (Entra ID), `permissions` (Auth0), `realm_access.roles` (Keycloak).
    pub roles_claim: Option<String>,
    /// A PEM file of CA certificates to trust for the provider, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// A request to the provider slower than this fails.
    pub timeout_secs: u64,
}

/// An asymmetric JWS algorithm a token may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TokenAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl TokenAlgorithm {
    const ALL: [Self; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The name tokens give it in their `alg` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for TokenAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for TokenAlgorithm {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if let Some(known) = Self::ALL.into_iter().find(|alg| alg.as_str() == text) {
            return Ok(known);
        }
        Err(match text.to_ascii_uppercase().as_str() {
            "NONE" => "must not list `none`: unsigned tokens are never accepted".into(),
            name if name.starts_with("HS") => format!(
                "must not list {text}: HS256 is accepted only with auth.oidc.hs256_secret set"
            ),
            _ => format!(
                "lists {text:?}, which is not one of {}",
                Self::ALL.map(Self::as_str).join(", ")
            ),
        })
    }
}

impl From<TokenAlgorithm> for String {
    fn from(alg: TokenAlgorithm) -> Self {
        alg.as_str().to_owned()
    }
}

/// The shortest HS256 secret accepted, in bytes (the hash's size, as RFC 7518 asks).
const MIN_SECRET_BYTES: usize = 32;

impl AuthSettings {
    /// Checks what serde cannot: values that depend on each other or on the environment.
    pub(super) fn validate(&self, env: Environment) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError::new(message));
        if !self.enabled && env == Environment::Prod && !self.allow_open_in_prod {
            return fail(
                "auth.enabled is false in prod: anyone could call every route; set \
                 auth.allow_open_in_prod: true if something in front of the service checks \
                 callers"
                    .into(),
            );
        }
        let positive = [
            ("auth.cache_capacity", self.cache_capacity as u64),
            ("auth.api_keys.cache_secs", self.api_keys.cache_secs),
            (
                "auth.api_keys.last_used_flush_secs",
                self.api_keys.last_used_flush_secs,
            ),
            ("auth.oidc.refresh_secs", self.oidc.refresh_secs),
            (
                "auth.oidc.unknown_key_refresh_secs",
                self.oidc.unknown_key_refresh_secs,
            ),
            ("auth.oidc.timeout_secs", self.oidc.timeout_secs),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return fail(format!("{key} must be at least 1"));
        }
        self.oidc.validate()
    }
}

impl OidcSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError::new(message));
        let Some(issuer) = &self.issuer else {
            let set = [
                ("jwks_url", self.jwks_url.is_some()),
                ("hs256_secret", self.hs256_secret.is_some()),
                ("audiences", !self.audiences.is_empty()),
            ];
            if let Some((key, _)) = set.iter().find(|(_, set)| *set) {
                return fail(format!(
                    "auth.oidc.{key} is set but auth.oidc.issuer is not: tokens are checked \
                     only against an issuer"
                ));
            }
            return Ok(());
        };
        provider_url("auth.oidc.issuer", issuer)?;
        if let Some(url) = &self.jwks_url {
            provider_url("auth.oidc.jwks_url", url)?;
        }
        if self.audiences.is_empty() || self.audiences.iter().any(|aud| aud.trim().is_empty()) {
            return fail(
                "auth.oidc.audiences must list the audience (`aud`) tokens for this service \
                 carry"
                    .into(),
            );
        }
        if self.algorithms.is_empty() && self.hs256_secret.is_none() {
            return fail("auth.oidc.algorithms must list at least one algorithm".into());
        }
        if let Some(secret) = &self.hs256_secret
            && secret.expose().len() < MIN_SECRET_BYTES
        {
            return fail(format!(
                "auth.oidc.hs256_secret must be at least {MIN_SECRET_BYTES} bytes long"
            ));
        }
        Ok(())
    }
}

/// Provider URLs are `https://`, or `http://` on this machine's loopback (tests).
fn provider_url(key: &str, text: &str) -> Result<(), ConfigError> {
    let url = url::Url::parse(text)
        .map_err(|error| ConfigError::new(format!("{key} is not a URL ({error}): {text:?}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(ConfigError::new(format!(
            "{key} must be an https:// URL (http:// only on loopback): {text:?}"
        ))),
    }
}
