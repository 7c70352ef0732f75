//! Lines a template adds to a file the project has (its front matter's `injections`):
//! above or below a marker line, among their kind in order, or at the end.
use serde::Deserialize;

/// Where it adds a resource's entity to the migration drift test (`tests/api/schema.rs`).
pub const DRIFT_MARKER: &str =
    "// `cargo xtask new resource` adds the entities of new resources above this line.";

/// One injection of a template's front matter: `content` (one or more lines) goes `into`
/// a file, at the one place its other keys name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Injection {
    pub into: String,
    pub content: String,
    /// Above the first line that starts with this text (spaces before it aside).
    #[serde(default)]
    pub before: Option<String>,
    /// Below the first line that starts with this text.
    #[serde(default)]
    pub after: Option<String>,
    /// Among the lines that start with this text, in their order (`pub mod `, `mod m`):
    /// before the first one that sorts after the content, or below the last.
    #[serde(default)]
    pub among: Option<String>,
    /// At the end of the file.
    #[serde(default)]
    pub append: bool,
}

/// Where an injection goes, once checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Place<'a> {
    Before(&'a str),
    After(&'a str),
    Among(&'a str),
    Append,
}

impl Injection {
    /// The one place this injection names.
    pub fn place(&self) -> Result<Place<'_>, String> {
        let mut places = Vec::new();
        if let Some(text) = &self.before {
            places.push(Place::Before(text.trim()));
        }
        if let Some(text) = &self.after {
            places.push(Place::After(text.trim()));
        }
        if let Some(text) = &self.among {
            places.push(Place::Among(text.trim_start()));
        }
        if self.append {
            places.push(Place::Append);
        }
        match places.pop() {
            Some(place) if places.is_empty() => Ok(place),
            _ => Err(format!(
                "the injection into {} must name one place: before, after, among or append",
                self.into
            )),
        }
    }
}

/// `text` with the injection's lines added; refused when one of them is there already or
/// the place cannot be found.
pub fn apply(text: &str, injection: &Injection) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let new_lines: Vec<&str> = injection.content.lines().collect();
    for new_line in new_lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        if lines.iter().any(|line| line.trim() == new_line) {
            return Err(format!("it has `{new_line}` already"));
        }
    }
    let starts = |line: &str, with: &str| line.trim_start().starts_with(with);
    let (at, indent_of) = match injection.place()? {
        Place::Append => (lines.len(), None),
        Place::Before(marker) | Place::After(marker) => {
            let found = lines.iter().position(|line| starts(line, marker));
            let Some(found) = found else {
                return Err(format!(
                    "it has no line `{marker}`: put it back where generated code goes"
                ));
            };
            let below = matches!(injection.place()?, Place::After(_));
            (found + usize::from(below), Some(found))
        }
        Place::Among(prefix) => {
            let kin: Vec<usize> = (0..lines.len())
                .filter(|&at| starts(lines[at], prefix))
                .collect();
            let Some(&last) = kin.last() else {
                return Err(format!(
                    "it has no `{prefix}...` line to add `{}` beside",
                    injection.content.trim()
                ));
            };
            let first_line = new_lines.first().map(|l| l.trim()).unwrap_or_default();
            let at = kin
                .iter()
                .copied()
                .find(|&at| lines[at].trim() > first_line)
                .unwrap_or(last + 1);
            (at, Some(at.min(last)))
        }
    };
    let indent = indent_of
        .map(|at| &lines[at][..lines[at].len() - lines[at].trim_start().len()])
        .unwrap_or_default();
    let mut out: Vec<String> = lines.iter().map(|line| (*line).to_owned()).collect();
    let added = new_lines.iter().map(|line| {
        if line.is_empty() {
            String::new()
        } else {
            format!("{indent}{line}")
        }
    });
    out.splice(at..at, added);
    Ok(out.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES_MARKER: &str =
        "// `cargo xtask new resource` adds the routes of new resources above this line.";

    fn injection(content: &str, place: &str, text: &str) -> Injection {
        let mut injection = Injection {
            into: "f.rs".into(),
            content: content.into(),
            before: None,
            after: None,
            among: None,
            append: false,
        };
        match place {
            "before" => injection.before = Some(text.into()),
            "after" => injection.after = Some(text.into()),
            "among" => injection.among = Some(text.into()),
            _ => injection.append = true,
        }
        injection
    }

    #[test]
    fn modules_go_among_their_kind_in_order() {
        let text = "//! Doc.\npub mod persons;\npub mod tasks;\n\nfn x() {}\n";
        let added = apply(text, &injection("pub mod invoices;", "among", "pub mod "));
        assert_eq!(
            added.expect("added"),
            "//! Doc.\npub mod invoices;\npub mod persons;\npub mod tasks;\n\nfn x() {}\n"
        );
        let last = apply(text, &injection("pub mod widgets;", "among", "pub mod "));
        assert!(
            last.expect("added")
                .contains("pub mod tasks;\npub mod widgets;\n")
        );
        let again = apply(text, &injection("pub mod tasks;", "among", "pub mod "));
        assert!(again.unwrap_err().contains("already"));
        let none = apply("fn x() {}\n", &injection("mod a;", "among", "mod "));
        assert!(none.unwrap_err().contains("no `mod ...` line"));
    }

    #[test]
    fn lines_go_above_or_below_a_marker_indented_as_it_is() {
        let text = [
            "fn f() {",
            "    a();",
            &format!("    {ROUTES_MARKER}"),
            "}",
            "",
        ]
        .join("\n");
        let added = apply(&text, &injection("b();\nc();", "before", ROUTES_MARKER));
        assert!(
            added
                .expect("added")
                .contains("    a();\n    b();\n    c();\n    // `cargo xtask"),
        );
        let below = apply(&text, &injection("z();", "after", "a();"));
        assert!(below.expect("added").contains("    a();\n    z();\n"));
        let missing = apply("x\n", &injection("b();", "before", ROUTES_MARKER));
        assert!(missing.unwrap_err().contains("put it back"));
    }

    #[test]
    fn appended_lines_go_at_the_end() {
        let added = apply("a\nb\n", &injection("c", "append", ""));
        assert_eq!(added.expect("added"), "a\nb\nc\n");
    }
}
