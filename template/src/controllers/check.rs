//! Checks of input values shared by the controllers (`cargo xtask new resource` writes
//! controllers that use them): each names the field it rejects, and gives back the value
//! to store. The views document the same rules as JSON Schema patterns and formats.
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DbBackend;
use serde_json::Value;
use uuid::Uuid;

use super::FieldError;

/// Whether `c` may appear in a one-line string: no control character (C0, DEL, C1).
fn allowed_in_line(c: char) -> bool {
    !c.is_control()
}

/// Whether `c` may appear in a text: no control character but tab, line feed and
/// carriage return. PostgreSQL cannot store U+0000 at all.
fn allowed_in_text(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

/// A one-line string of at most `max_chars` characters (counted as given): not blank,
/// no control characters. Returns it trimmed.
pub fn line(
    field: &'static str,
    value: String,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) -> String {
    let length = value.chars().count();
    let trimmed = value.trim();
    if trimmed.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if !value.chars().all(allowed_in_line) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    } else if length > max_chars {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    trimmed.to_owned()
}

/// A text of any length: not blank, no control characters but tab, line feed and
/// carriage return. Returns it as given.
pub fn text(field: &'static str, value: String, errors: &mut Vec<FieldError>) -> String {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if !value.chars().all(allowed_in_text) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters other than tab and line breaks",
        ));
    }
    value
}

/// A calendar date written `YYYY-MM-DD` (RFC 3339's full-date).
pub fn date(field: &'static str, value: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let parsed = shaped
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten();
    if parsed.is_none() {
        errors.push(FieldError::new(field, "must be a date written YYYY-MM-DD"));
    }
    parsed
}

/// An instant in RFC 3339 (`2025-01-31T09:30:00Z`, any offset), kept in UTC.
pub fn datetime(
    field: &'static str,
    value: &str,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    // chrono also takes a space for the `T`; RFC 3339 (and JSON Schema) do not.
    let shaped = matches!(value.as_bytes().get(10), Some(b'T' | b't'));
    let parsed = shaped
        .then(|| DateTime::parse_from_rfc3339(value).ok())
        .flatten()
        .map(|instant| instant.with_timezone(&Utc));
    if parsed.is_none() {
        errors.push(FieldError::new(
            field,
            "must be a date and time in RFC 3339, such as 2025-01-31T09:30:00Z",
        ));
    }
    parsed
}

/// A UUID in its hyphenated form (`67e55044-10b1-426f-9247-bb680e5fe0c8`).
pub fn uuid(field: &'static str, value: &str, errors: &mut Vec<FieldError>) -> Option<Uuid> {
    // The uuid crate also reads the simple, braced and URN forms; JSON Schema does not.
    let parsed = (value.len() == 36)
        .then(|| Uuid::try_parse(value).ok())
        .flatten();
    if parsed.is_none() {
        errors.push(FieldError::new(
            field,
            "must be a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8",
        ));
    }
    parsed
}

/// Any JSON value. PostgreSQL's `jsonb` cannot store U+0000 in a string (or a key): on
/// PostgreSQL such a value is refused, naming the field, where SQLite stores it.
pub fn json(
    field: &'static str,
    value: Value,
    backend: DbBackend,
    errors: &mut Vec<FieldError>,
) -> Value {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    if backend == DbBackend::Postgres && has_nul(&value) {
        errors.push(FieldError::new(
            field,
            "must not contain the character U+0000 (PostgreSQL cannot store it)",
        ));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejects<T>(check: impl FnOnce(&mut Vec<FieldError>) -> T) -> bool {
        let mut errors = Vec::new();
        check(&mut errors);
        errors.iter().all(|e| e.field == "f") && errors.len() == 1
    }

    #[test]
    fn lines_are_trimmed_and_bounded() {
        let mut errors = Vec::new();
        assert_eq!(line("f", "  Ada ".into(), 6, &mut errors), "Ada");
        assert!(errors.is_empty(), "{errors:?}");
        for bad in [
            "",
            "   ",
            "a\u{0}b",
            "tab\there",
            "line\nbreak",
            "\u{85}x",
            "1234567",
        ] {
            assert!(rejects(|e| line("f", bad.into(), 6, e)), "{bad:?}");
        }
    }

    #[test]
    fn texts_keep_their_line_breaks() {
        let mut errors = Vec::new();
        assert_eq!(text("f", " a\n\tb\r\n".into(), &mut errors), " a\n\tb\r\n");
        assert!(errors.is_empty(), "{errors:?}");
        for bad in ["", " \n ", "a\u{0}b", "bell\u{7}", "\u{9f}"] {
            assert!(rejects(|e| text("f", bad.into(), e)), "{bad:?}");
        }
    }

    #[test]
    fn dates_times_and_uuids_are_read_in_their_standard_forms_only() {
        let mut errors = Vec::new();
        assert!(date("f", "2024-02-29", &mut errors).is_some());
        assert!(datetime("f", "2025-01-31T09:30:00+02:00", &mut errors).is_some());
        assert!(datetime("f", "2025-01-31t07:30:00.5z", &mut errors).is_some());
        assert!(uuid("f", "67e55044-10b1-426f-9247-bb680e5fe0c8", &mut errors).is_some());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            datetime("f", "2025-01-31T09:30:00+02:00", &mut errors).map(|t| t.to_rfc3339()),
            Some("2025-01-31T07:30:00+00:00".into())
        );
        for bad in ["2023-02-29", "2025-1-31", "31/01/2025", "+12025-01-01", ""] {
            assert!(rejects(|e| date("f", bad, e)), "{bad:?}");
        }
        for bad in ["2025-01-31 09:30:00Z", "2025-01-31T09:30:00", "2025-01-31"] {
            assert!(rejects(|e| datetime("f", bad, e)), "{bad:?}");
        }
        for bad in [
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "x",
        ] {
            assert!(rejects(|e| uuid("f", bad, e)), "{bad:?}");
        }
    }

    #[test]
    fn json_may_be_anything_but_nul_on_postgresql() {
        let mut errors = Vec::new();
        let value = serde_json::json!({"a": [1, "b", null, {"c": true}]});
        assert_eq!(
            json("f", value.clone(), DbBackend::Postgres, &mut errors),
            value
        );
        assert!(errors.is_empty());
        for nul in [
            serde_json::json!({"a": ["x\u{0}"]}),
            serde_json::json!({"k\u{0}": 1}),
        ] {
            assert!(rejects(|e| json("f", nul.clone(), DbBackend::Postgres, e)));
            let mut errors = Vec::new();
            json("f", nul, DbBackend::Sqlite, &mut errors);
            assert!(errors.is_empty(), "SQLite stores it");
        }
    }
}
