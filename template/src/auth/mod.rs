//! Who is calling, and what they may do.
//!
//! A caller proves who it is with one credential, sent as `Authorization: Bearer ...`:
//! - an **API key** made by `keys create` ([`keys`]): for machines; stored hashed;
//! - a **bearer token** (a JWT) from the team's OpenID Connect provider ([`oidc`]).
//!
//! Either gives an [`Identity`]: the caller's name (`key:NAME`, `sub:SUBJECT`) and its
//! permissions (a key's scopes; a token's `scope`/`scp` and roles). Which permission each
//! route needs is declared with the route, in its OpenAPI documentation, and enforced by
//! the API (`api::auth`); this room knows no HTTP.
//!
//! Verified credentials are remembered ([`cache`]) until a token's `exp`, or for
//! `auth.api_keys.cache_secs` for a key: a reused one costs a hash and a look-up.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbErr};

use crate::config::AuthSettings;

pub mod cache;
pub mod keys;
pub mod oidc;

use cache::Verified;

/// The most permissions one identity carries (a token may list many roles).
const MAX_PERMISSIONS: usize = 256;
/// The longest permission name kept.
pub const MAX_PERMISSION_CHARS: usize = 100;
/// The longest caller name kept (`tasks.caller` holds 200 characters).
const MAX_CALLER_CHARS: usize = 200;

/// Who a caller is and what it may do.
#[derive(Debug)]
pub struct Identity {
    caller: String,
    /// Sorted, without duplicates.
    permissions: Vec<String>,
    /// The API key it came from, for its last-use time.
    key: Option<KeyUse>,
}

/// An API key's id and the last period (of `last_used_flush_secs`) it was noted in use.
#[derive(Debug)]
struct KeyUse {
    id: i64,
    noted: AtomicU64,
}

impl Identity {
    /// A caller named `caller` (cut to 200 characters, control characters dropped) with
    /// `permissions` (the first 256, each of at most 100 characters); `key` is the id of
    /// the API key it came from.
    pub fn new(caller: String, permissions: Vec<String>, key: Option<i64>) -> Self {
        let caller =
            if caller.chars().count() > MAX_CALLER_CHARS || caller.contains(char::is_control) {
                caller
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_CALLER_CHARS)
                    .collect()
            } else {
                caller
            };
        let mut permissions: Vec<String> = permissions
            .into_iter()
            .filter(|p| !p.is_empty() && p.chars().count() <= MAX_PERMISSION_CHARS)
            .take(MAX_PERMISSIONS)
            .collect();
        permissions.sort_unstable();
        permissions.dedup();
        Self {
            caller,
            permissions,
            key: key.map(|id| KeyUse {
                id,
                noted: AtomicU64::new(u64::MAX),
            }),
        }
    }

    /// `key:NAME` for an API key, `sub:SUBJECT` for a token.
    pub fn caller(&self) -> &str {
        &self.caller
    }

    /// Whether the caller holds `permission`.
    pub fn has(&self, permission: &str) -> bool {
        self.permissions
            .binary_search_by(|held| held.as_str().cmp(permission))
            .is_ok()
    }

    pub fn permissions(&self) -> &[String] {
        &self.permissions
    }
}

/// Why a credential was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No credential came with the request.
    #[error("credentials are required")]
    Missing,
    /// The credential is not valid; the message says why, without repeating it.
    #[error("{0}")]
    Invalid(&'static str),
    /// The provider's signing keys have not been fetched yet (it is down, say).
    #[error("the identity provider's keys are unavailable")]
    KeysUnavailable,
    /// The API keys could not be read.
    #[error("cannot read API keys: {0}")]
    Database(#[from] DbErr),
}

/// Checks credentials: API keys against the database, tokens against the provider's keys.
#[derive(Clone)]
pub struct Authenticator(Arc<Inner>);

struct Inner {
    enabled: bool,
    verified: Verified,
    keys: keys::KeyStore,
    oidc: Option<oidc::Oidc>,
    /// When this process started checking: the clock of key-use periods.
    started: Instant,
}

impl Authenticator {
    /// Starts checking as `settings` say: fetches the provider's keys in the background
    /// (a provider that is down is said once, and its tokens get 503 until its keys
    /// arrive) and writes the keys' last use every `last_used_flush_secs`. Call it in a
    /// Tokio runtime; its tasks end when the last clone is dropped. Fails on a `ca_file`
    /// it cannot read.
    pub fn start(settings: &AuthSettings, db: DatabaseConnection) -> Result<Self, String> {
        if !settings.enabled {
            tracing::warn!(
                "AUTHENTICATION IS OFF (auth.enabled: false): anyone may call every route"
            );
        }
        let inner = Inner {
            enabled: settings.enabled,
            verified: Verified::new(settings.cache_capacity),
            keys: keys::KeyStore::new(db, &settings.api_keys),
            oidc: oidc::Oidc::new(&settings.oidc)?,
            started: Instant::now(),
        };
        if settings.enabled {
            inner.keys.spawn_flusher();
            if let Some(oidc) = &inner.oidc {
                oidc.spawn_refresher();
            }
        }
        Ok(Self(Arc::new(inner)))
    }

    /// Whether callers are checked at all (`auth.enabled`).
    pub fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// The identity `credential` (a key or a token, as sent after `Bearer`) proves.
    pub async fn authenticate(&self, credential: &str) -> Result<Arc<Identity>, AuthError> {
        let now = Instant::now();
        let digest = cache::digest(credential);
        if let Some(identity) = self.0.verified.get(&digest, now) {
            self.note_use(&identity, now);
            return Ok(identity);
        }
        let (identity, until) = if keys::looks_like_key(credential) {
            let (identity, until) = self.0.keys.verify(credential, &digest).await?;
            (identity, until.min(now + self.0.keys.cache_for()))
        } else {
            let oidc = self
                .0
                .oidc
                .as_ref()
                .ok_or(AuthError::Invalid("bearer tokens are not accepted here"))?;
            let (identity, expires_in) = oidc.verify(credential).await?;
            (identity, now + expires_in)
        };
        let identity = Arc::new(identity);
        self.0
            .verified
            .insert(digest, identity.clone(), until, Instant::now());
        self.note_use(&identity, now);
        Ok(identity)
    }

    /// Notes that a key was used in this period: once per key and period, not per request.
    fn note_use(&self, identity: &Identity, now: Instant) {
        let Some(key) = &identity.key else { return };
        let period = now.duration_since(self.0.started).as_secs() / self.0.keys.flush_secs();
        if key.noted.load(Ordering::Relaxed) != period
            && key.noted.swap(period, Ordering::Relaxed) != period
        {
            self.0.keys.used(key.id);
        }
    }

    /// Writes the keys' last use now (at shutdown).
    pub async fn flush(&self) {
        self.0.keys.flush().await;
    }
}

/// Until `deadline` (seconds since the Unix epoch) as seen from now; zero if past.
fn until_unix(deadline: i64) -> Duration {
    let now = chrono::Utc::now().timestamp();
    Duration::from_secs(deadline.saturating_sub(now).max(0) as u64)
}

/// Whether `text` is a permission name: `resource:action` words of lowercase letters,
/// digits, `_`, `-` and `.`, separated by `:`.
pub fn is_permission(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_PERMISSION_CHARS
        && text.split(':').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_holds_its_permissions_sorted_and_bounded() {
        let identity = Identity::new(
            "sub:ci\u{7}".into(),
            vec![
                "persons:write".into(),
                "persons:read".into(),
                "persons:read".into(),
            ],
            None,
        );
        assert_eq!(identity.caller(), "sub:ci");
        assert!(identity.has("persons:read") && identity.has("persons:write"));
        assert!(!identity.has("tasks:read"));
        assert_eq!(identity.permissions().len(), 2);

        let many = (0..1000).map(|n| format!("p:{n}")).collect();
        let long = Identity::new("x".repeat(500), many, None);
        assert_eq!(long.caller().len(), 200);
        assert_eq!(long.permissions().len(), 256);
    }

    #[test]
    fn permission_names_are_plain_words_separated_by_colons() {
        for good in ["persons:read", "tasks:admin", "metrics:read", "a.b-c_d:e1"] {
            assert!(is_permission(good), "{good}");
        }
        for bad in [
            "",
            ":read",
            "persons:",
            "Persons:read",
            "persons read",
            "a::b",
        ] {
            assert!(!is_permission(bad), "{bad}");
        }
    }
}
