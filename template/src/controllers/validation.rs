//! The rules of input fields, each written once: the controllers check input with them,
//! and the API documents them from the same limits (see `api::fields`).
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{Error, FieldError};

/// What [`Checks::text`] accepts, as a regular expression (for the API's documentation):
/// at least one character that is not a space, and no control characters.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

/// What [`Checks::text`] accepts, in words (for the API's documentation).
pub fn text_rule(max_chars: usize) -> String {
    format!("Up to {max_chars} characters, not blank, no control characters; kept trimmed.")
}

/// The problems found in one input, so that every bad field is reported at once.
#[derive(Debug, Default)]
pub struct Checks {
    problems: Vec<FieldError>,
}

impl Checks {
    /// A line of text: not blank, no control characters, at most `max_chars` characters
    /// as given (spaces around included). Returns it trimmed, which is how it is kept.
    pub fn text(&mut self, field: &'static str, value: &str, max_chars: usize) -> String {
        let length = value.chars().count();
        let value = value.trim();
        if value.is_empty() {
            self.fail(field, "must not be empty");
        } else if value.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        } else if length > max_chars {
            self.fail(field, format!("must be at most {max_chars} characters"));
        }
        value.to_owned()
    }

    /// A whole number from `min` to `max`.
    pub fn range<T: PartialOrd + std::fmt::Display>(
        &mut self,
        field: &'static str,
        value: T,
        min: T,
        max: T,
    ) {
        if value < min || value > max {
            self.fail(field, format!("must be between {min} and {max}"));
        }
    }

    /// Records a problem found by a rule of the resource's own.
    pub fn fail(&mut self, field: &'static str, message: impl Into<String>) {
        self.problems.push(FieldError::new(field, message));
    }

    /// `Ok` when every check passed; else [`Error::Invalid`] naming each bad field.
    pub fn finish(self) -> Result<(), Error> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.problems))
        }
    }
}

/// What [`Checks::long_text`] accepts, as a regular expression: at least one character
/// that is not a space, and no control characters but tab, line feed and carriage return.
pub const LONG_TEXT_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";
/// What [`Checks::long_text`] accepts, in words.
pub const LONG_TEXT_RULE: &str = "Not blank; no control characters but tab and line breaks.";
/// What [`Checks::date`] accepts, in words.
pub const DATE_RULE: &str = "A date, YYYY-MM-DD.";
/// What [`Checks::datetime`] accepts, in words.
pub const DATETIME_RULE: &str =
    "A date and time in RFC 3339, such as 2025-01-31T09:30:00Z; answered in UTC.";
/// What [`Checks::uuid`] accepts, in words.
pub const UUID_RULE: &str = "A UUID, hyphenated.";
/// What [`Checks::json`] accepts, in words.
pub const JSON_RULE: &str = "Any JSON value; its strings may not contain U+0000.";

/// The checks of the other field types `cargo xtask new resource` knows.
impl Checks {
    /// A text of any length: not blank, no control characters but tab, line feed and
    /// carriage return (PostgreSQL cannot store U+0000). Returns it as given.
    pub fn long_text(&mut self, field: &'static str, value: &str) -> String {
        let allowed = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
        if value.trim().is_empty() {
            self.fail(field, "must not be empty");
        } else if !value.chars().all(allowed) {
            self.fail(
                field,
                "must not contain control characters other than tab and line breaks",
            );
        }
        value.to_owned()
    }

    /// A calendar date written `YYYY-MM-DD` (RFC 3339's full-date).
    pub fn date(&mut self, field: &'static str, value: &str) -> Option<NaiveDate> {
        let shaped = value.len() == 10
            && value.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        let parsed = shaped
            .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
            .flatten();
        if parsed.is_none() {
            self.fail(field, "must be a date written YYYY-MM-DD");
        }
        parsed
    }

    /// An instant in RFC 3339 (`2025-01-31T09:30:00Z`, any offset), kept in UTC.
    pub fn datetime(&mut self, field: &'static str, value: &str) -> Option<DateTime<Utc>> {
        // chrono also takes a space for the `T`; RFC 3339 (and JSON Schema) do not.
        let shaped = matches!(value.as_bytes().get(10), Some(b'T' | b't'));
        let parsed = shaped
            .then(|| DateTime::parse_from_rfc3339(value).ok())
            .flatten()
            .map(|instant| instant.with_timezone(&Utc));
        if parsed.is_none() {
            self.fail(
                field,
                "must be a date and time in RFC 3339, such as 2025-01-31T09:30:00Z",
            );
        }
        parsed
    }

    /// A UUID in its hyphenated form (`67e55044-10b1-426f-9247-bb680e5fe0c8`).
    pub fn uuid(&mut self, field: &'static str, value: &str) -> Option<Uuid> {
        // The uuid crate also reads the simple, braced and URN forms; JSON Schema does not.
        let parsed = (value.len() == 36)
            .then(|| Uuid::try_parse(value).ok())
            .flatten();
        if parsed.is_none() {
            self.fail(
                field,
                "must be a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8",
            );
        }
        parsed
    }

    /// Any JSON value. PostgreSQL's `jsonb` cannot store U+0000 in a string (or a key):
    /// such a value is refused, naming the field, whatever the database (so that the API
    /// answers alike on PostgreSQL and SQLite).
    pub fn json(&mut self, field: &'static str, value: Value) -> Value {
        fn has_nul(value: &Value) -> bool {
            match value {
                Value::String(text) => text.contains('\0'),
                Value::Array(items) => items.iter().any(has_nul),
                Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
                _ => false,
            }
        }
        if has_nul(&value) {
            self.fail(
                field,
                "must not contain the character U+0000 (PostgreSQL cannot store it)",
            );
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields `check` found bad.
    fn bad_fields(check: impl FnOnce(&mut Checks)) -> Vec<&'static str> {
        let mut checks = Checks::default();
        check(&mut checks);
        match checks.finish() {
            Ok(()) => Vec::new(),
            Err(Error::Invalid(problems)) => problems.iter().map(|p| p.field).collect(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_texts_keep_their_line_breaks() {
        let mut checks = Checks::default();
        assert_eq!(checks.long_text("f", " a\n\tb\r\n"), " a\n\tb\r\n");
        assert!(checks.finish().is_ok());
        for bad in ["", " \n ", "a\u{0}b", "bell\u{7}", "\u{9f}"] {
            assert_eq!(
                bad_fields(|c| drop(c.long_text("f", bad))),
                ["f"],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn dates_times_and_uuids_are_read_in_their_standard_forms_only() {
        let mut checks = Checks::default();
        assert!(checks.date("f", "2024-02-29").is_some());
        assert!(checks.datetime("f", "2025-01-31t07:30:00.5z").is_some());
        assert_eq!(
            checks
                .datetime("f", "2025-01-31T09:30:00+02:00")
                .map(|t| t.to_rfc3339()),
            Some("2025-01-31T07:30:00+00:00".into())
        );
        assert!(
            checks
                .uuid("f", "67e55044-10b1-426f-9247-bb680e5fe0c8")
                .is_some()
        );
        assert!(checks.finish().is_ok());
        for bad in ["2023-02-29", "2025-1-31", "31/01/2025", "+12025-01-01", ""] {
            assert_eq!(
                bad_fields(|c| {
                    c.date("f", bad);
                }),
                ["f"],
                "{bad:?}"
            );
        }
        for bad in ["2025-01-31 09:30:00Z", "2025-01-31T09:30:00", "2025-01-31"] {
            assert_eq!(
                bad_fields(|c| {
                    c.datetime("f", bad);
                }),
                ["f"],
                "{bad:?}"
            );
        }
        for bad in [
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "x",
        ] {
            assert_eq!(
                bad_fields(|c| {
                    c.uuid("f", bad);
                }),
                ["f"],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn json_may_be_anything_but_nul() {
        let value = serde_json::json!({"a": [1, "b", null, {"c": true}]});
        let mut checks = Checks::default();
        assert_eq!(checks.json("f", value.clone()), value);
        assert!(checks.finish().is_ok());
        for nul in [
            serde_json::json!({"a": ["x\u{0}"]}),
            serde_json::json!({"k\u{0}": 1}),
        ] {
            assert_eq!(bad_fields(|c| drop(c.json("f", nul))), ["f"]);
        }
    }

    #[test]
    fn ranges_take_both_ends_of_any_whole_number_type() {
        assert!(bad_fields(|c| c.range("f", 150, 0, 150)).is_empty());
        assert_eq!(bad_fields(|c| c.range("f", -1, 0, 150)), ["f"]);
        assert_eq!(
            bad_fields(|c| c.range("f", 5_000_000_001_i64, 0, 5_000_000_000)),
            ["f"]
        );
    }
}
