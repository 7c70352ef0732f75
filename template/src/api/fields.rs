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

fn integer_schema(min: i32, max: i32, kind: SchemaType) -> Object {
    ObjectBuilder::new()
        .schema_type(kind)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(min))
        .maximum(Some(max))
        .build()
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
}
