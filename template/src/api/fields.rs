//! The fields of request bodies: how they are read, and how they are documented.
//!
//! The rules are the controllers' ([`Checks`](crate::controllers::Checks)); the schemas
//! here document them from the same limits, so that the docs and the checks cannot drift:
//!
//! ```text
//! #[schema(schema_with = fields::text::<NAME_MAX_CHARS>)]
//! pub name: String,
//! #[schema(schema_with = fields::integer::<AGE_MIN, AGE_MAX>)]
//! #[serde(deserialize_with = "fields::whole::i32")]
//! pub age: i32,
//! ```
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

use crate::controllers::validation::{
    DATE_RULE, DATETIME_RULE, LONG_TEXT_PATTERN, LONG_TEXT_RULE, UUID_RULE,
};
use crate::controllers::{TEXT_PATTERN, text_rule};

/// A field checked by `Checks::text` with at most `MAX` characters.
pub fn text<const MAX: usize>() -> Object {
    text_schema(MAX, Type::String.into())
}

/// As [`text`], in a body where the field may be left out (or `null`).
pub fn optional_text<const MAX: usize>() -> Object {
    text_schema(MAX, [Type::String, Type::Null].into_iter().collect())
}

fn text_schema(max: usize, kind: SchemaType) -> Object {
    ObjectBuilder::new()
        .schema_type(kind)
        .description(Some(text_rule(max)))
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(TEXT_PATTERN))
        .build()
}

/// A field checked by `Checks::range` from `MIN` to `MAX` (read with [`whole::i32`]).
pub fn integer<const MIN: i32, const MAX: i32>() -> Object {
    integer_schema(MIN, MAX, Type::Integer.into())
}

/// As [`integer`], in a body where the field may be left out (or `null`).
pub fn optional_integer<const MIN: i32, const MAX: i32>() -> Object {
    integer_schema(MIN, MAX, [Type::Integer, Type::Null].into_iter().collect())
}

/// A field checked by `Checks::range` from `MIN` to `MAX` (read with [`whole::i64`]).
pub fn big_integer<const MIN: i64, const MAX: i64>() -> Object {
    big_integer_schema(MIN, MAX, Type::Integer.into())
}

/// As [`big_integer`], in a body where the field may be left out (or `null`).
pub fn optional_big_integer<const MIN: i64, const MAX: i64>() -> Object {
    big_integer_schema(MIN, MAX, [Type::Integer, Type::Null].into_iter().collect())
}

fn big_integer_schema(min: i64, max: i64, kind: SchemaType) -> Object {
    ObjectBuilder::new()
        .schema_type(kind)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .build()
}

fn integer_schema(min: i32, max: i32, kind: SchemaType) -> Object {
    ObjectBuilder::new()
        .schema_type(kind)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(min))
        .maximum(Some(max))
        .build()
}

/// The other field types of `cargo xtask new resource`: each schema below documents the
/// `Checks` method (or the Rust type) that reads the field, and has an `optional_` twin
/// for a body where the field may be left out (or `null`).
fn kind(kind: Type, nullable: bool) -> SchemaType {
    if nullable {
        [kind, Type::Null].into_iter().collect()
    } else {
        kind.into()
    }
}

fn long_text_schema(nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(kind(Type::String, nullable))
        .description(Some(LONG_TEXT_RULE))
        .min_length(Some(1))
        .pattern(Some(LONG_TEXT_PATTERN))
        .build()
}

/// A field checked by `Checks::long_text`.
pub fn long_text() -> Object {
    long_text_schema(false)
}

/// As [`long_text`], optional.
pub fn optional_long_text() -> Object {
    long_text_schema(true)
}

fn formatted(format: KnownFormat, rule: &str, nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(kind(Type::String, nullable))
        .format(Some(SchemaFormat::KnownFormat(format)))
        .description(Some(rule))
        .build()
}

/// A field checked by `Checks::date`.
pub fn date() -> Object {
    formatted(KnownFormat::Date, DATE_RULE, false)
}

/// As [`date`], optional.
pub fn optional_date() -> Object {
    formatted(KnownFormat::Date, DATE_RULE, true)
}

/// A field checked by `Checks::datetime`.
pub fn datetime() -> Object {
    formatted(KnownFormat::DateTime, DATETIME_RULE, false)
}

/// As [`datetime`], optional.
pub fn optional_datetime() -> Object {
    formatted(KnownFormat::DateTime, DATETIME_RULE, true)
}

/// A field checked by `Checks::uuid`.
pub fn uuid() -> Object {
    formatted(KnownFormat::Uuid, UUID_RULE, false)
}

/// As [`uuid`], optional.
pub fn optional_uuid() -> Object {
    formatted(KnownFormat::Uuid, UUID_RULE, true)
}

fn bounded(format: KnownFormat, number: Type, min: f64, max: f64, nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(kind(number, nullable))
        .format(Some(SchemaFormat::KnownFormat(format)))
        .minimum(Some(min))
        .maximum(Some(max))
        .build()
}

/// Any `i32` (read with [`whole::i32`]).
pub fn int32() -> Object {
    integer_schema(i32::MIN, i32::MAX, Type::Integer.into())
}

/// As [`int32`], optional.
pub fn optional_int32() -> Object {
    integer_schema(i32::MIN, i32::MAX, kind(Type::Integer, true))
}

fn int64_schema(nullable: bool) -> Object {
    big_integer_schema(i64::MIN, i64::MAX, kind(Type::Integer, nullable))
}

/// Any `i64` (read with [`whole::i64`]).
pub fn int64() -> Object {
    int64_schema(false)
}

/// As [`int64`], optional.
pub fn optional_int64() -> Object {
    int64_schema(true)
}

/// Any finite `f64` (JSON has no other).
pub fn double() -> Object {
    bounded(KnownFormat::Double, Type::Number, f64::MIN, f64::MAX, false)
}

/// As [`double`], optional.
pub fn optional_double() -> Object {
    bounded(KnownFormat::Double, Type::Number, f64::MIN, f64::MAX, true)
}

/// For the optional fields of a `PATCH` body (with `#[serde(default)]`): left out is
/// `None` (unchanged), `null` is `Some(None)` (cleared), a value is `Some(Some(value))`.
pub fn clearable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Serde helpers for JSON numbers: JSON Schema's integers include `38.0`, which serde's
/// `i32` refuses; these accept a number with no fraction that fits.
pub mod whole {
    use serde::{Deserialize, Deserializer, de::Error};

    fn to_i32<E: Error>(number: serde_json::Number) -> Result<i32, E> {
        let whole = number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0 && float.abs() < 1e15)
                .map(|float| float as i64)
        });
        whole
            .and_then(|value| i32::try_from(value).ok())
            .ok_or_else(|| E::custom(format!("expected a whole number, got {number}")))
    }

    /// For `i32` fields: `#[serde(deserialize_with = "fields::whole::i32")]`.
    pub fn i32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        to_i32(serde_json::Number::deserialize(deserializer)?)
    }

    /// For `Option<i32>` fields (with `#[serde(default)]`).
    pub fn optional_i32<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i32>, D::Error> {
        Option::<serde_json::Number>::deserialize(deserializer)?
            .map(to_i32)
            .transpose()
    }

    /// For `Option<Option<i32>>` fields of a `PATCH` (see [`super::clearable`]).
    pub fn clearable_i32<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<i32>>, D::Error> {
        optional_i32(deserializer).map(Some)
    }

    fn to_i64<E: Error>(number: serde_json::Number) -> Result<i64, E> {
        number
            .as_i64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|float| float.fract() == 0.0 && float.abs() < 1e15)
                    .map(|float| float as i64)
            })
            .ok_or_else(|| E::custom(format!("expected a whole number, got {number}")))
    }

    /// For `i64` fields: `#[serde(deserialize_with = "fields::whole::i64")]`.
    pub fn i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        to_i64(serde_json::Number::deserialize(deserializer)?)
    }

    /// For `Option<i64>` fields (with `#[serde(default)]`).
    pub fn optional_i64<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Option::<serde_json::Number>::deserialize(deserializer)?
            .map(to_i64)
            .transpose()
    }

    /// For `Option<Option<i64>>` fields of a `PATCH` (see [`super::clearable`]).
    pub fn clearable_i64<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<i64>>, D::Error> {
        optional_i64(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::whole;

    #[derive(serde::Deserialize)]
    struct Age {
        #[serde(deserialize_with = "whole::i32")]
        age: i32,
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let parse = |json: &str| serde_json::from_str::<Age>(json).map(|a| a.age);
        assert_eq!(parse(r#"{"age": 38}"#).ok(), Some(38));
        assert_eq!(parse(r#"{"age": 38.0}"#).ok(), Some(38));
        assert_eq!(parse(r#"{"age": -1}"#).ok(), Some(-1));
        assert!(parse(r#"{"age": 38.5}"#).is_err());
        assert!(parse(r#"{"age": 3000000000}"#).is_err());
        assert!(parse(r#"{"age": "38"}"#).is_err());
    }

    #[derive(serde::Deserialize)]
    struct Change {
        #[serde(default, deserialize_with = "whole::clearable_i64")]
        count: Option<Option<i64>>,
        #[serde(default, deserialize_with = "super::clearable")]
        note: Option<Option<String>>,
    }

    #[test]
    fn clearable_fields_tell_left_out_from_null() {
        let parse = |json: &str| serde_json::from_str::<Change>(json).expect(json);
        let left_out = parse("{}");
        assert_eq!((left_out.count, left_out.note), (None, None));
        let cleared = parse(r#"{"count": null, "note": null}"#);
        assert_eq!((cleared.count, cleared.note), (Some(None), Some(None)));
        let set = parse(r#"{"count": 9007199254740993, "note": "x"}"#);
        assert_eq!(set.count, Some(Some(9_007_199_254_740_993)));
        assert_eq!(set.note, Some(Some("x".into())));
        assert!(serde_json::from_str::<Change>(r#"{"count": 1.5}"#).is_err());
    }
}
