//! API keys for machines: made, listed and revoked by the `keys` commands, checked on
//! each request that sends one.
//!
//! A key is `sk_` and 12 hex digits (its prefix: public, shown by `keys list`, how the
//! key is found), `_`, then 32 random bytes in base64url: 256 bits no one can guess. Only
//! its SHA-256 is stored. A slow password hash (bcrypt, Argon2) protects guessable
//! passwords by making each guess cost; a random 256-bit key has no guessable space to
//! protect, so a fast hash keeps it as safe, and a check costs microseconds, not the 50 ms
//! or more a slow hash spends on every cache miss.
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set, SqlErr,
};

use super::cache::Digest;
use super::{AuthError, Identity, is_permission};
use crate::config::ApiKeySettings;
use crate::models::api_key::{self, Entity as ApiKeys};

/// How every key starts.
pub const KEY_START: &str = "sk_";
/// Random bytes behind the prefix's hex digits.
const PREFIX_BYTES: usize = 6;
/// `sk_` and the hex digits.
const PREFIX_CHARS: usize = KEY_START.len() + 2 * PREFIX_BYTES;
/// The key's secret part: 32 random bytes.
const SECRET_BYTES: usize = 32;
/// The whole key: prefix, `_`, the secret in base64url without padding.
const KEY_CHARS: usize = PREFIX_CHARS + 1 + (SECRET_BYTES * 4).div_ceil(3);
/// The longest key name.
pub const NAME_MAX_CHARS: usize = 80;

/// Whether `credential` is shaped like an API key rather than a token.
pub fn looks_like_key(credential: &str) -> bool {
    credential.starts_with(KEY_START) && !credential.contains('.')
}

/// A key just made: the only time its text is known.
#[derive(Debug)]
pub struct NewKey {
    /// The key itself: shown once, stored nowhere.
    pub key: String,
    pub row: api_key::Model,
}

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the name must be 1 to {NAME_MAX_CHARS} characters: lowercase letters, digits, `-`, \
         `_` or `.`, starting with a letter or digit (got {0:?})"
    )]
    BadName(String),
    #[error(
        "{0:?} is not a permission: `resource:action`, lowercase words joined by `:` \
         (persons:read)"
    )]
    BadScope(String),
    #[error("a key needs at least one --scope")]
    NoScope,
    #[error("a key named {0:?} exists already (revoked keys keep their name)")]
    NameTaken(String),
    #[error("cannot draw random bytes")]
    Random,
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

fn valid_name(name: &str) -> bool {
    name.len() <= NAME_MAX_CHARS
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// Makes a key named `name` with `scopes`, valid for `expires_in` (or until revoked).
pub async fn create(
    db: &impl ConnectionTrait,
    name: &str,
    scopes: &[String],
    expires_in: Option<Duration>,
) -> Result<NewKey, KeyError> {
    if !valid_name(name) {
        return Err(KeyError::BadName(name.to_owned()));
    }
    if scopes.is_empty() {
        return Err(KeyError::NoScope);
    }
    if let Some(bad) = scopes.iter().find(|scope| !is_permission(scope)) {
        return Err(KeyError::BadScope(bad.clone()));
    }
    let mut random = [0u8; PREFIX_BYTES + SECRET_BYTES];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .map_err(|_| KeyError::Random)?;
    let (id, secret) = random.split_at(PREFIX_BYTES);
    let prefix = format!("{KEY_START}{}", hex(id));
    let key = format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let now = Utc::now();
    let expires_at = expires_in
        .and_then(|after| chrono::Duration::from_std(after).ok())
        .and_then(|after| now.checked_add_signed(after));
    let row = api_key::ActiveModel {
        name: Set(name.to_owned()),
        prefix: Set(prefix),
        hash: Set(hex(&super::cache::digest(&key))),
        scopes: Set(scopes.join(" ")),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|error| match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => KeyError::NameTaken(name.to_owned()),
        _ => KeyError::Database(error),
    })?;
    Ok(NewKey { key, row })
}

/// Every key, revoked ones included, oldest first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<api_key::Model>, DbErr> {
    ApiKeys::find()
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await
}

/// Revokes the key named `name`; `false` when there is no such key or it was revoked
/// already. Instances that used it lately refuse it within `auth.api_keys.cache_secs`.
pub async fn revoke(db: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let done = ApiKeys::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(api_key::Column::Name.eq(name))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Checks keys against the database and records their use in batches.
#[derive(Clone)]
pub struct KeyStore(Arc<Store>);

struct Store {
    db: DatabaseConnection,
    cache_for: Duration,
    flush_secs: u64,
    /// Keys used since the last flush, by id.
    used: Mutex<HashSet<i64>>,
}

impl KeyStore {
    pub fn new(db: DatabaseConnection, settings: &ApiKeySettings) -> Self {
        Self(Arc::new(Store {
            db,
            cache_for: Duration::from_secs(settings.cache_secs),
            flush_secs: settings.last_used_flush_secs.max(1),
            used: Mutex::default(),
        }))
    }

    /// How long a key read from the database is trusted before it is read again.
    pub fn cache_for(&self) -> Duration {
        self.0.cache_for
    }

    pub fn flush_secs(&self) -> u64 {
        self.0.flush_secs
    }

    /// The identity of `key` (whose SHA-256 is `digest`), and until when it is valid.
    pub async fn verify(
        &self,
        key: &str,
        digest: &Digest,
    ) -> Result<(Identity, Instant), AuthError> {
        let invalid = AuthError::Invalid("invalid API key");
        if key.len() != KEY_CHARS || key.as_bytes().get(PREFIX_CHARS) != Some(&b'_') {
            return Err(invalid);
        }
        let prefix = &key[..PREFIX_CHARS];
        let Some(row) = ApiKeys::find()
            .filter(api_key::Column::Prefix.eq(prefix))
            .one(&self.0.db)
            .await?
        else {
            return Err(invalid);
        };
        if !same(&hex(digest), &row.hash) {
            return Err(invalid);
        }
        if row.revoked_at.is_some() {
            return Err(AuthError::Invalid("this API key was revoked"));
        }
        let now = Instant::now();
        let until = match row.expires_at {
            Some(at) if at <= Utc::now() => {
                return Err(AuthError::Invalid("this API key has expired"));
            }
            Some(at) => now + super::until_unix(at.timestamp()),
            None => now + Duration::from_secs(24 * 3600),
        };
        let scopes = row.scopes.split_whitespace().map(str::to_owned).collect();
        let identity = Identity::new(format!("key:{}", row.name), scopes, Some(row.id));
        Ok((identity, until))
    }

    /// Notes that key `id` was used (written at the next flush).
    pub fn used(&self, id: i64) {
        if let Ok(mut used) = self.0.used.lock() {
            used.insert(id);
        }
    }

    /// Writes the last use of the keys used since the last flush, in one statement.
    pub async fn flush(&self) {
        let ids: Vec<i64> = match self.0.used.lock() {
            Ok(mut used) => used.drain().collect(),
            Err(_) => return,
        };
        if ids.is_empty() {
            return;
        }
        let now: DateTime<Utc> = Utc::now();
        let written = ApiKeys::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.is_in(ids))
            .filter(
                Condition::any()
                    .add(api_key::Column::LastUsedAt.is_null())
                    .add(api_key::Column::LastUsedAt.lt(now)),
            )
            .exec(&self.0.db)
            .await;
        if let Err(error) = written {
            tracing::warn!(%error, "cannot record when API keys were last used");
        }
    }

    /// Flushes every `last_used_flush_secs` while the store lives.
    pub fn spawn_flusher(&self) {
        let store: Weak<Store> = Arc::downgrade(&self.0);
        let every = Duration::from_secs(self.0.flush_secs);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(store) = store.upgrade() else { return };
                KeyStore(store).flush().await;
            }
        });
    }
}

/// Lowercase hex digits of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `a` and `b` are equal, in a time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let differences = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(differences) == 0 && a.len() == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn database() -> DatabaseConnection {
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("SQLite");
        crate::db::upgrade(&db, None).await.expect("migrations");
        db
    }

    fn settings() -> ApiKeySettings {
        ApiKeySettings {
            cache_secs: 5,
            last_used_flush_secs: 60,
        }
    }

    #[tokio::test]
    async fn a_key_is_made_once_stored_hashed_and_checked() {
        let db = database().await;
        let scopes = ["persons:read".to_owned(), "persons:write".to_owned()];
        let made = create(&db, "ci", &scopes, None).await.expect("made");
        assert_eq!(made.key.len(), KEY_CHARS);
        assert!(looks_like_key(&made.key));
        assert!(made.key.starts_with(&made.row.prefix));
        assert!(!made.row.hash.contains(&made.key[PREFIX_CHARS + 1..]));
        assert_eq!(made.row.hash.len(), 64);

        let store = KeyStore::new(db.clone(), &settings());
        let digest = super::super::cache::digest(&made.key);
        let (identity, _) = store.verify(&made.key, &digest).await.expect("valid");
        assert_eq!(identity.caller(), "key:ci");
        assert!(identity.has("persons:write"));

        // One character changed in the secret: refused.
        let mut forged = made.key.clone();
        let last = forged
            .pop()
            .map_or('A', |c| if c == 'A' { 'B' } else { 'A' });
        forged.push(last);
        let digest = super::super::cache::digest(&forged);
        assert!(store.verify(&forged, &digest).await.is_err());

        assert!(matches!(
            create(&db, "ci", &scopes, None).await,
            Err(KeyError::NameTaken(_))
        ));
        assert!(revoke(&db, "ci").await.expect("revoked"));
        assert!(!revoke(&db, "ci").await.expect("once"), "revoked already");
        let digest = super::super::cache::digest(&made.key);
        assert!(store.verify(&made.key, &digest).await.is_err());
    }

    #[tokio::test]
    async fn bad_names_and_scopes_are_refused() {
        let db = database().await;
        let read = ["persons:read".to_owned()];
        for name in ["", "CI", "-ci", "c i", &"x".repeat(81)] {
            assert!(
                matches!(
                    create(&db, name, &read, None).await,
                    Err(KeyError::BadName(_))
                ),
                "{name}"
            );
        }
        let bad = ["persons read".to_owned()];
        assert!(matches!(
            create(&db, "ci", &bad, None).await,
            Err(KeyError::BadScope(_))
        ));
        assert!(matches!(
            create(&db, "ci", &[], None).await,
            Err(KeyError::NoScope)
        ));
        assert!(list(&db).await.expect("listed").is_empty());
    }

    #[test]
    fn comparison_sees_every_difference() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
