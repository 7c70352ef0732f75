//! Secrets: values that never print, and the one list of names that mark a value as one.
//!
//! The list serves the `config` dump (values under such keys are hidden), the GELF extra
//! fields (those so named are secrets), and Sentry (log fields so named are never sent).
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Words that mark a name (a config key, a log field, a URL parameter) as holding a secret.
const SECRET_WORDS: [&str; 8] = [
    "password",
    "secret",
    "token",
    "authorization",
    "cookie",
    "dsn",
    "key",
    "credential",
];

/// What a hidden value prints as.
pub const REDACTED: &str = "[redacted]";

/// Whether `name` (a config key, a log field, a URL parameter) names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// A value that never prints: `Debug` and `Serialize` show `[redacted]`; [`Secret::expose`]
/// is the only way to it.
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself, for the code that must send it somewhere.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

/// A URL that may carry a password (in its user part or a `?password=`-like parameter):
/// `Debug` and `Serialize` show it with the password replaced by `REDACTED`.
#[derive(Clone)]
pub struct SecretUrl {
    /// As written: what [`SecretUrl::expose`] gives.
    text: String,
    url: url::Url,
}

impl SecretUrl {
    /// Parses `text`; the error never repeats it (it may hold a password).
    pub fn parse(text: &str) -> Result<Self, url::ParseError> {
        Ok(Self {
            text: text.to_owned(),
            url: url::Url::parse(text)?,
        })
    }

    /// The URL as written, password included, for the code that connects with it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The URL with its passwords hidden.
    pub fn redacted(&self) -> String {
        redact_url(self.url.clone())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// Hides secrets in free-form values (a schedule's task arguments, say): strings under a
/// secret name become `[redacted]`, URLs lose their passwords.
pub fn redact_json(value: &mut serde_json::Value) {
    redact_value(value, false);
}

fn redact_value(value: &mut serde_json::Value, secret_name: bool) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                redact_value(child, is_secret_name(key));
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| redact_value(v, secret_name));
        }
        serde_json::Value::String(text) if secret_name && !text.is_empty() => {
            *text = REDACTED.into();
        }
        serde_json::Value::String(text) => {
            if let Ok(url) = url::Url::parse(text) {
                *text = redact_url(url);
            }
        }
        _ => {}
    }
}

/// Hides the password of a URL, in its user part and in `?password=`-like parameters.
fn redact_url(mut url: url::Url) -> String {
    if url.password().is_some() {
        let _ = url.set_password(Some("REDACTED"));
    }
    let secret_query = url.query_pairs().any(|(key, _)| is_secret_name(&key));
    if secret_query {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret_name(&key) {
                    "REDACTED".into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_print_as_redacted_but_can_be_exposed() {
        let secret = Secret::new("s3cret".to_owned());
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(
            serde_json::to_value(&secret).unwrap(),
            serde_json::json!(REDACTED)
        );
        assert_eq!(secret.expose(), "s3cret");
    }

    #[test]
    fn url_passwords_are_hidden_in_the_user_part_and_the_query() {
        let url = SecretUrl::parse("postgres://user:hunter2@db/app").unwrap();
        assert_eq!(format!("{url:?}"), "postgres://user:REDACTED@db/app");
        assert_eq!(url.expose(), "postgres://user:hunter2@db/app");

        let url = SecretUrl::parse("postgres://db/app?user=app&password=hunter2&sslmode=require")
            .unwrap();
        let printed = serde_json::to_string(&url).unwrap();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("sslmode=require"), "{printed}");
    }

    #[test]
    fn free_form_values_lose_secret_names_and_url_passwords() {
        let mut value = serde_json::json!({
            "api_token": "t0k3n",
            "note": "kept",
            "source": "https://u:hunter2@files.example.com/x",
            "empty_key": "",
        });
        redact_json(&mut value);
        assert_eq!(value["api_token"], REDACTED);
        assert_eq!(value["note"], "kept");
        assert_eq!(value["source"], "https://u:REDACTED@files.example.com/x");
        assert_eq!(value["empty_key"], "");
    }

    #[test]
    fn the_one_list_covers_config_keys_log_fields_and_headers() {
        for name in [
            "password",
            "DSN",
            "api_key",
            "x_auth_token",
            "Authorization",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["request_id", "route", "status"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }
}
