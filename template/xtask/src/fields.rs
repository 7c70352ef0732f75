//! `NAME:TYPE` arguments: the fields of a resource and the arguments of a task.
use crate::names;

/// The longest `string(N)`: PostgreSQL's `varchar` takes far more, but a longer string
/// is a `text`.
pub const MAX_STRING_LENGTH: u32 = 65_535;
/// The length of a plain `string`.
pub const DEFAULT_STRING_LENGTH: u32 = 255;

/// The types a field can have, as the user writes them.
pub const KNOWN_TYPES: &str = "string, string(N), text, bool, i32, i32(MIN..=MAX), i64, i64(MIN..=MAX), f64, date, datetime, uuid, json, references";

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Up to N characters, not blank, no control characters; trimmed.
    String(u32),
    /// Any length; no control characters but tab, line feed and carriage return.
    Text,
    Bool,
    /// A whole number, within the range if one is given.
    I32(Option<Range>),
    I64(Option<Range>),
    F64,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An instant, RFC 3339 in, UTC out.
    DateTime,
    Uuid,
    /// Any JSON value.
    Json,
    /// The id of a row of another resource's table (the resource's singular name).
    References(String),
}

/// The accepted values of a whole number, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i64,
    pub max: i64,
}

impl Kind {
    /// The type's name in the templates: `string`, `i32`, `reference` ...
    pub fn label(&self) -> &'static str {
        match self {
            Self::String(_) => "string",
            Self::Text => "text",
            Self::Bool => "bool",
            Self::I32(_) => "i32",
            Self::I64(_) => "i64",
            Self::F64 => "f64",
            Self::Date => "date",
            Self::DateTime => "datetime",
            Self::Uuid => "uuid",
            Self::Json => "json",
            Self::References(_) => "reference",
        }
    }

    /// The range of a whole number, if one was given.
    pub fn range(&self) -> Option<Range> {
        match self {
            Self::I32(range) | Self::I64(range) => *range,
            _ => None,
        }
    }
}

/// One field of a resource (or argument of a task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The column, field and JSON name: `invoice_id` for `invoice:references`.
    pub name: String,
    pub kind: Kind,
    /// Nullable, may be left out of a `POST`, `null` in a `PATCH` clears it.
    pub optional: bool,
}

impl Field {
    /// Parses `name:type`, `name:type?` or `name:string(80)`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let Some((name, kind)) = spec.split_once(':') else {
            return Err(format!(
                "{spec:?} is not NAME:TYPE (for instance amount_cents:i64; types: {KNOWN_TYPES})"
            ));
        };
        names::check_identifier(name, "field")?;
        let (kind, optional) = match kind.strip_suffix('?') {
            Some(kind) => (kind, true),
            None => (kind, false),
        };
        let kind = match kind {
            "string" => Kind::String(DEFAULT_STRING_LENGTH),
            "text" => Kind::Text,
            "bool" => Kind::Bool,
            "i32" => Kind::I32(None),
            "i64" => Kind::I64(None),
            "f64" => Kind::F64,
            "date" => Kind::Date,
            "datetime" => Kind::DateTime,
            "uuid" => Kind::Uuid,
            "json" => Kind::Json,
            "references" => Kind::References(name.to_owned()),
            other => match other.split_once('(') {
                Some(("string", rest)) => Kind::String(string_length(spec, argument(rest))?),
                Some(("i32", rest)) => {
                    let limits = (i32::MIN.into(), i32::MAX.into());
                    Kind::I32(Some(range(spec, argument(rest), limits)?))
                }
                Some(("i64", rest)) => {
                    Kind::I64(Some(range(spec, argument(rest), (i64::MIN, i64::MAX))?))
                }
                _ => {
                    return Err(format!(
                        "field {name:?} has an unknown type {other:?}; known types: {KNOWN_TYPES}"
                    ));
                }
            },
        };
        let name = match &kind {
            Kind::References(target) => format!("{target}_id"),
            _ => name.to_owned(),
        };
        Ok(Self {
            name,
            kind,
            optional,
        })
    }
}

/// What is inside `(...)`; `None` when the parenthesis is not closed.
fn argument(rest: &str) -> Option<&str> {
    rest.strip_suffix(')')
}

fn string_length(spec: &str, length: Option<&str>) -> Result<u32, String> {
    let Some(length) = length else {
        return Err(format!("{spec:?}: the length of a string is string(N)"));
    };
    match length.parse::<u32>() {
        Ok(n) if (1..=MAX_STRING_LENGTH).contains(&n) => Ok(n),
        _ => Err(format!(
            "{spec:?}: the length of a string must be a number from 1 to {MAX_STRING_LENGTH}"
        )),
    }
}

/// `MIN..=MAX` of `i32(MIN..=MAX)`, within `limits` (the type's own).
fn range(spec: &str, text: Option<&str>, limits: (i64, i64)) -> Result<Range, String> {
    let bad = || {
        format!(
            "{spec:?}: a range is MIN..=MAX, two whole numbers of the type with MIN at most MAX (age:i32(0..=150))"
        )
    };
    let (min, max) = text.and_then(|t| t.split_once("..=")).ok_or_else(bad)?;
    let number = |t: &str| {
        t.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (limits.0..=limits.1).contains(n))
    };
    match (number(min), number(max)) {
        (Some(min), Some(max)) if (min, max) == limits => Err(format!(
            "{spec:?}: the range takes every value of the type: give the type alone"
        )),
        (Some(min), Some(max)) if min <= max => Ok(Range { min, max }),
        _ => Err(bad()),
    }
}

/// Parses every `NAME:TYPE` and checks that no name is given twice or taken by a column
/// every row has (`id`, `created_at`, `updated_at`).
pub fn parse_all(specs: &[String], reserved: &[&str]) -> Result<Vec<Field>, String> {
    let mut fields: Vec<Field> = Vec::new();
    for spec in specs {
        let field = Field::parse(spec)?;
        if reserved.contains(&field.name.as_str()) {
            return Err(format!(
                "field {:?} is reserved: every row has it already",
                field.name
            ));
        }
        if fields.iter().any(|f| f.name == field.name) {
            return Err(format!("field {:?} is given twice", field.name));
        }
        fields.push(field);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Result<Field, String> {
        Field::parse(spec)
    }

    #[test]
    fn every_type_parses_and_a_question_mark_makes_it_optional() {
        for (spec, kind) in [
            ("number:string", Kind::String(255)),
            ("number:string(80)", Kind::String(80)),
            ("note:text", Kind::Text),
            ("paid:bool", Kind::Bool),
            ("quantity:i32", Kind::I32(None)),
            (
                "age:i32(0..=150)",
                Kind::I32(Some(Range { min: 0, max: 150 })),
            ),
            ("amount_cents:i64", Kind::I64(None)),
            (
                "amount_cents:i64(-5..=5000000000)",
                Kind::I64(Some(Range {
                    min: -5,
                    max: 5_000_000_000,
                })),
            ),
            ("rate:f64", Kind::F64),
            ("due_on:date", Kind::Date),
            ("sent_at:datetime", Kind::DateTime),
            ("token:uuid", Kind::Uuid),
            ("extra:json", Kind::Json),
        ] {
            let field = parse(spec).expect(spec);
            assert_eq!(field.kind, kind, "{spec}");
            assert!(!field.optional, "{spec}");
            let optional = parse(&format!("{spec}?")).expect(spec);
            assert!(optional.optional && optional.kind == kind, "{spec}?");
        }
    }

    #[test]
    fn a_reference_is_a_column_named_after_the_resource() {
        let field = parse("invoice:references").expect("parses");
        assert_eq!(field.name, "invoice_id");
        assert_eq!(field.kind, Kind::References("invoice".into()));
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for (spec, says) in [
            ("number", "NAME:TYPE"),
            ("number:varchar", "known types: string"),
            ("Number:string", "snake_case"),
            ("type:string", "keyword"),
            ("number:string(0)", "from 1 to"),
            ("number:string(x)", "from 1 to"),
            ("number:string(80", "string(N)"),
            ("number:i128", "unknown type"),
            ("age:i32(150..=0)", "MIN at most MAX"),
            ("age:i32(0..150)", "MIN..=MAX"),
            ("age:i32(0..=3000000000)", "MIN..=MAX"),
            ("age:i32(0..=x)", "MIN..=MAX"),
            ("age:i32(0..=1", "MIN..=MAX"),
            ("age:f64(0..=1)", "unknown type"),
            ("n:i32(-2147483648..=2147483647)", "every value"),
        ] {
            let error = parse(spec).unwrap_err();
            assert!(error.contains(says), "{spec}: {error}");
        }
    }

    #[test]
    fn names_are_unique_and_not_reserved() {
        let specs = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let reserved = ["id", "created_at"];
        assert!(parse_all(&specs(&["a:i32", "b:i32"]), &reserved).is_ok());
        let twice = parse_all(&specs(&["a:i32", "a:text"]), &reserved).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        let clash = parse_all(&specs(&["invoice_id:i64", "invoice:references"]), &reserved);
        assert!(clash.unwrap_err().contains("twice"));
        let id = parse_all(&specs(&["id:i64"]), &reserved).unwrap_err();
        assert!(id.contains("reserved"), "{id}");
    }
}
