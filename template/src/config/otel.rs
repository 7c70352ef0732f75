//! The standard OpenTelemetry variables, read as keys of `trace`: teams and platforms set
//! `OTEL_EXPORTER_OTLP_ENDPOINT` and friends, and expect them to work.
//!
//! They sit just below the `APP__SECTION__KEY` overrides (an `APP__TRACE__...` variable
//! wins), and show in `config` like any other source.
use std::collections::HashMap;

use figment::Figment;
use figment::value::{Dict, Empty, Tag, Value};

use super::ConfigError;
use super::load::EnvVar;

/// The `trace` keys the standard variables in `vars` set.
pub(super) fn variables(vars: &HashMap<String, String>) -> Result<Figment, ConfigError> {
    let var = |name: &str| {
        vars.get(name)
            .map(|value| value.trim())
            .filter(|v| !v.is_empty())
    };
    // The per-signal variable wins over the general one.
    let either = |traces: &'static str, general: &'static str| {
        var(traces)
            .map(|value| (traces, value))
            .or_else(|| var(general).map(|value| (general, value)))
    };
    let mut figment = Figment::new();
    let mut set = |name: &str, key: &str, value: Value| {
        figment = std::mem::take(&mut figment).merge(EnvVar::new(name, key, value));
    };

    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match var("OTEL_TRACES_EXPORTER") {
        None | Some("otlp") => {}
        Some("none") => set("OTEL_TRACES_EXPORTER", "trace.endpoint", none()),
        Some(other) => {
            return Err(ConfigError::new(format!(
                "OTEL_TRACES_EXPORTER {other:?} is not supported: otlp, or none"
            )));
        }
    }
    if let Some((name, protocol)) = either(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ) && protocol != "http/protobuf"
    {
        return Err(ConfigError::new(format!(
            "{name} {protocol:?} is not supported: traces are sent as http/protobuf"
        )));
    }
    if let Some((name, endpoint)) = either(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ) && !disabled
        && var("OTEL_TRACES_EXPORTER") != Some("none")
    {
        set(name, "trace.endpoint", Value::from(endpoint.to_owned()));
    }
    for name in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    ] {
        if let Some(text) = var(name) {
            // The message never repeats the text: it holds credentials.
            let headers = pairs(text).ok_or_else(|| {
                ConfigError::new(format!(
                    "{name} must be name=value pairs separated by commas"
                ))
            })?;
            set(name, "trace.headers", Value::from(headers));
        }
    }
    if let Some((name, timeout)) = either(
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ) {
        set(name, "trace.timeout_ms", guess(timeout));
    }
    if let Some(service) = var("OTEL_SERVICE_NAME") {
        set(
            "OTEL_SERVICE_NAME",
            "trace.service_name",
            Value::from(service.to_owned()),
        );
    }
    if let Some(text) = var("OTEL_RESOURCE_ATTRIBUTES") {
        let attributes = pairs(text).ok_or_else(|| {
            ConfigError::new("OTEL_RESOURCE_ATTRIBUTES must be key=value pairs separated by commas")
        })?;
        set(
            "OTEL_RESOURCE_ATTRIBUTES",
            "trace.resource_attributes",
            Value::from(attributes),
        );
    }
    if let Some(sampler) = var("OTEL_TRACES_SAMPLER") {
        let (parent_based, ratio) = match sampler {
            "always_on" => (false, Some(1.0)),
            "always_off" => (false, Some(0.0)),
            "traceidratio" => (false, None),
            "parentbased_always_on" => (true, Some(1.0)),
            "parentbased_always_off" => (true, Some(0.0)),
            "parentbased_traceidratio" => (true, None),
            other => {
                return Err(ConfigError::new(format!(
                    "OTEL_TRACES_SAMPLER {other:?} is not supported: always_on, always_off, \
                     traceidratio or their parentbased_ forms"
                )));
            }
        };
        let ratio = match (ratio, var("OTEL_TRACES_SAMPLER_ARG")) {
            (Some(ratio), _) => ratio,
            (None, Some(arg)) => arg.parse().map_err(|_| {
                ConfigError::new(format!(
                    "OTEL_TRACES_SAMPLER_ARG must be a number from 0.0 to 1.0 (got {arg:?})"
                ))
            })?,
            // The specification's default for the ratio samplers.
            (None, None) => 1.0,
        };
        set(
            "OTEL_TRACES_SAMPLER",
            "trace.parent_based",
            Value::from(parent_based),
        );
        set(
            "OTEL_TRACES_SAMPLER_ARG",
            "trace.sample_ratio",
            Value::from(ratio),
        );
    }
    for (name, key) in [
        ("OTEL_BSP_MAX_QUEUE_SIZE", "trace.queue_capacity"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "trace.batch_size"),
        ("OTEL_BSP_SCHEDULE_DELAY", "trace.batch_delay_ms"),
    ] {
        if let Some(value) = var(name) {
            set(name, key, guess(value));
        }
    }
    Ok(figment)
}

/// YAML's `~`: no value.
fn none() -> Value {
    Value::Empty(Tag::Default, Empty::None)
}

/// A number when the text is one (figment then checks the key's type).
fn guess(text: &str) -> Value {
    text.parse()
        .unwrap_or_else(|_| Value::from(text.to_owned()))
}

/// `key1=value1,key2=value2` (W3C Baggage style, values percent-encoded), as a map.
fn pairs(text: &str) -> Option<Dict> {
    let mut map = Dict::new();
    for pair in text
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
    {
        let (key, value) = pair.split_once('=')?;
        let key = percent_decoded(key.trim())?;
        if key.is_empty() {
            return None;
        }
        map.insert(key, Value::from(percent_decoded(value.trim())?));
    }
    Some(map)
}

/// `text` with its `%XX` escapes decoded; `None` when one is broken or not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::{ConfigError, Settings};

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(&vars)
    }

    #[test]
    fn tracing_is_off_unless_an_endpoint_is_given() {
        let settings = load(&[]).expect("loads");
        assert!(settings.trace.endpoint.is_none());
    }

    #[test]
    fn the_standard_variables_set_the_trace_keys() {
        let settings = load(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=s3cret%2Cpart,team = core",
            ),
            ("OTEL_SERVICE_NAME", "billing"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=staging,service.namespace=shop",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ])
        .expect("loads");
        let trace = &settings.trace;
        assert_eq!(
            trace.endpoint.as_ref().map(|e| e.traces_url()),
            Some("http://collector:4318/v1/traces")
        );
        let headers: Vec<_> = trace.headers.exposed().collect();
        assert_eq!(headers, [("team", "core"), ("x-api-key", "s3cret,part")]);
        assert_eq!(trace.service_name.as_deref(), Some("billing"));
        assert_eq!(
            trace.resource_attributes["deployment.environment.name"],
            "staging"
        );
        assert_eq!(trace.sample_ratio, 0.25);
        assert!(trace.parent_based);
        assert_eq!(trace.timeout_ms, 2500);
        let printed = settings.redacted_yaml();
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("x-api-key"), "{printed}");
    }

    #[test]
    fn app_variables_win_and_the_traces_endpoint_wins_over_the_general_one() {
        let settings = load(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:4318/v1/traces",
            ),
            ("OTEL_TRACES_SAMPLER", "always_off"),
            ("APP__TRACE__SAMPLE_RATIO", "0.5"),
        ])
        .expect("loads");
        assert_eq!(
            settings.trace.endpoint.as_ref().map(|e| e.traces_url()),
            Some("http://traces:4318/v1/traces")
        );
        assert_eq!(settings.trace.sample_ratio, 0.5);
        assert!(!settings.trace.parent_based);
    }

    #[test]
    fn disabling_variables_turn_tracing_off() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        for off in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            let settings = load(&[endpoint, off]).expect("loads");
            assert!(settings.trace.endpoint.is_none(), "{off:?}");
        }
    }

    #[test]
    fn bad_values_name_their_variable_and_hide_credentials() {
        for (vars, expected) in [
            (
                vec![("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                vec![("OTEL_TRACES_SAMPLER", "sometimes")],
                "OTEL_TRACES_SAMPLER",
            ),
            (
                vec![
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "half"),
                ],
                "OTEL_TRACES_SAMPLER_ARG",
            ),
            (
                vec![
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "2"),
                ],
                "trace.sample_ratio",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
                "trace.endpoint",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_HEADERS", "s3cret")],
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                vec![("OTEL_BSP_MAX_QUEUE_SIZE", "0")],
                "trace.queue_capacity",
            ),
        ] {
            let error = load(&vars).expect_err("refused").to_string();
            assert!(error.contains(expected), "{vars:?}: {error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
    }
}
