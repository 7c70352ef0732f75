//! Where the settings come from, merged in order, and the errors that name the key.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized};

use super::{
    DIR_VAR, ENV_VAR, Environment, FILE_VAR, OVERRIDE_PREFIX, Settings, YAML_BASE64_VAR, YAML_VAR,
};

/// `config/default.yaml` as it was when the binary was built: every key with its default,
/// so that the service starts with no config folder at all.
const BUILT_IN: &str = include_str!("../../config/default.yaml");

/// A configuration problem, worded for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        // figment reports one error per bad key; each names the key and where it came from.
        // A value the settings' own types refused says what is wrong with it: the key goes
        // in front ("log.syslog.address must be ...").
        let messages: Vec<String> = error
            .into_iter()
            .map(|error| match &error.kind {
                figment::error::Kind::Message(message) if !error.path.is_empty() => {
                    let key = error.path.join(".");
                    let gap = if message.starts_with(':') { "" } else { " " };
                    format!("{key}{gap}{message}")
                }
                _ => error.to_string(),
            })
            .collect();
        Self(messages.join("; "))
    }
}

/// YAML for figment, through the maintained `yaml_serde` crate.
struct Yaml;

impl Format for Yaml {
    type Error = yaml_serde::Error;
    const NAME: &'static str = "YAML";

    fn from_str<T: serde::de::DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        yaml_serde::from_str(string)
    }
}

impl Settings {
    /// Loads the settings from the process environment and the files it names.
    pub fn load() -> Result<Self, ConfigError> {
        let vars = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        Self::load_from(&vars)
    }

    /// Loads the settings from the given variables instead of the process's (for tests).
    pub fn load_from(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let var = |name: &str| vars.get(name).cloned();
        let env = match var(ENV_VAR) {
            Some(value) => value.parse()?,
            None => Environment::Dev,
        };
        let dir = PathBuf::from(var(DIR_VAR).unwrap_or_else(|| "config".into()));

        let mut figment = Figment::from(Yaml::string(BUILT_IN))
            .merge(Yaml::file(dir.join("default.yaml")))
            .merge(Yaml::file(dir.join(format!("{env}.yaml"))));
        if let Some(path) = var(FILE_VAR) {
            figment = figment.merge(Yaml::file_exact(readable_file(Path::new(&path))?));
        }
        if let Some(document) = var(YAML_VAR) {
            figment = figment.merge(Yaml::string(&document));
        }
        if let Some(encoded) = var(YAML_BASE64_VAR) {
            use base64::Engine;

            let compact: String = encoded.split_whitespace().collect();
            let document = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{YAML_BASE64_VAR} is not base64-encoded UTF-8 text"
                    ))
                })?;
            figment = figment.merge(Yaml::string(&document));
        }
        figment = figment.merge(super::otel::variables(vars)?);
        figment = figment.merge(overrides(vars));

        let mut settings: Settings = figment.extract()?;
        settings.env = env;
        settings.validate()?;
        Ok(settings)
    }

    /// The built-in defaults alone (`config/default.yaml` as built), not validated: in
    /// dev they lack a database URL.
    pub fn defaults() -> Result<Self, ConfigError> {
        Ok(Figment::from(Yaml::string(BUILT_IN)).extract()?)
    }
}

/// The `APP__SECTION__KEY` overrides: `APP__DATABASE__URL` sets `database.url`.
fn overrides(vars: &HashMap<String, String>) -> Figment {
    let mut figment = Figment::new();
    for (name, value) in vars {
        if let Some(path) = name.strip_prefix(OVERRIDE_PREFIX) {
            figment = figment.merge(EnvVar {
                name: name.clone(),
                key: path.to_ascii_lowercase().replace("__", "."),
                value: value.parse().unwrap_or_else(|_| value.clone().into()),
            });
        }
    }
    figment
}

/// One override variable, as a figment source whose errors name the variable.
pub(super) struct EnvVar {
    name: String,
    key: String,
    value: figment::value::Value,
}

impl EnvVar {
    /// Variable `name` setting `key` (dotted) to `value`.
    pub(super) fn new(name: &str, key: &str, value: figment::value::Value) -> Self {
        Self {
            name: name.to_owned(),
            key: key.to_owned(),
            value,
        }
    }
}

impl figment::Provider for EnvVar {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("environment variable {}", self.name))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::default(&self.key, &self.value).data()
    }
}

fn readable_file(path: &Path) -> Result<&Path, ConfigError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(ConfigError(format!(
            "{FILE_VAR} names {}, which is not a file",
            path.display()
        ))),
        Err(error) => Err(ConfigError(format!(
            "{FILE_VAR} names {}, which cannot be read: {error}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key paths of a tree, `log.syslog.address` style.
    fn keys(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let serde_json::Value::Object(map) = value {
            for (key, child) in map {
                let path = format!("{prefix}{key}");
                keys(child, &format!("{path}."), out);
                out.push(path);
            }
        }
    }

    #[test]
    fn default_yaml_sets_every_key_the_settings_have() {
        // Deserializing fails on a key the code does not know or a (non-optional) key the
        // file lacks; comparing the keys also catches optional keys left out of the file,
        // which a reader of default.yaml would then never learn about.
        let settings = Settings::defaults().expect("config/default.yaml is complete");
        let mut from_code = Vec::new();
        keys(
            &serde_json::to_value(&settings).expect("serializes"),
            "",
            &mut from_code,
        );
        let file: serde_json::Value = yaml_serde::from_str(BUILT_IN).expect("valid YAML");
        let mut from_file = Vec::new();
        keys(&file, "", &mut from_file);
        from_code.sort();
        from_file.sort();
        assert_eq!(from_code, from_file);
    }

    #[test]
    fn the_service_starts_without_a_config_folder() {
        let vars = HashMap::from([
            (DIR_VAR.to_owned(), "/nonexistent".to_owned()),
            (
                "APP__DATABASE__URL".to_owned(),
                "sqlite::memory:".to_owned(),
            ),
        ]);
        let settings = Settings::load_from(&vars).expect("built-in defaults suffice");
        assert_eq!(settings.server.port, 8000);
        assert_eq!(settings.tasks.namespace, "tasks");
        assert_eq!(settings.beat.schedules.len(), 1);
    }
}
