//! The rules of input fields, each written once: the controllers check input with them,
//! and the API documents them from the same limits (see `api::fields`).
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
    pub fn range(&mut self, field: &'static str, value: i32, min: i32, max: i32) {
        if !(min..=max).contains(&value) {
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
