//! The generators' templates: the files of `xtask/templates/{generator}/`, rendered in the
//! order of their names. Each one is a front matter that says where its text goes and what
//! it adds to files the project has, then the text (the body):
//!
//! ```text
//! ---
//! to: src/controllers/{{ many }}.rs
//! injections:
//!   - into: src/controllers/mod.rs
//!     among: "pub mod "
//!     content: "pub mod {{ many }};"
//! ---
//! //! Creating, reading, changing and deleting {{ many_words }} ...
//! ```
//!
//! The whole file is a [MiniJinja](https://docs.rs/minijinja) template (Jinja's syntax:
//! `{{ value }}`, `{% for field in fields %}`, `{% if ... %}`), the front matter included;
//! a line that holds only a `{% ... %}` tag leaves no line behind.
//!
//! Front matter keys:
//! - `to`: the file the body goes to, from the project's folder. Optional: a template may
//!   only inject.
//! - `if_exists`: when `to` exists already (or an earlier template planned it): `refuse`
//!   (the default: the command stops, nothing written), `skip` (this template adds
//!   nothing, injections included) or `append` (the body goes at the end of the file).
//! - `injections`: lines added to files that exist, each `into` a file with its `content`
//!   and one place (see [`Place`]): `before` or `after` the first line that starts with a
//!   text (a marker comment), `among` the lines that start with a text (in order: module
//!   declarations, migrations), or `append` at the end.
use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use super::inject::{self, Injection};
use crate::plan::Plan;

/// What to do when a template's `to` exists already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfExists {
    #[default]
    Refuse,
    Skip,
    Append,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    if_exists: IfExists,
    #[serde(default)]
    injections: Vec<Injection>,
}

/// One template, rendered: where its body goes and what it adds elsewhere.
#[derive(Debug)]
pub struct Rendered {
    pub to: Option<String>,
    pub if_exists: IfExists,
    pub injections: Vec<Injection>,
    pub body: String,
}

/// The templates of one generator (`resource`, `task`, `migration`), read from the
/// project's `xtask/templates/{generator}/`: a team may change them.
pub struct Templates {
    folder: String,
    sources: Vec<(String, String)>,
}

impl Templates {
    /// Reads every `*.t` file of `xtask/templates/{generator}/`, in the order of their names.
    pub fn load(root: &Path, generator: &str) -> Result<Self, String> {
        let folder = format!("xtask/templates/{generator}");
        let entries = std::fs::read_dir(root.join(&folder))
            .map_err(|e| format!("cannot read the templates in {folder}: {e}"))?;
        let mut sources = Vec::new();
        for path in entries.flatten().map(|entry| entry.path()) {
            if path.extension().is_none_or(|e| e != "t") {
                continue;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("{} is not a UTF-8 name", path.display()))?
                .to_owned();
            let source = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {folder}/{name}: {e}"))?;
            sources.push((name, source));
        }
        if sources.is_empty() {
            return Err(format!("{folder} has no template (*.t)"));
        }
        sources.sort();
        Ok(Self { folder, sources })
    }

    /// Renders every template with `context` (any serde value: its fields are the
    /// templates' variables).
    pub fn render(&self, context: &impl Serialize) -> Result<Vec<Rendered>, String> {
        let environment = environment();
        let context = minijinja::Value::from(Serde(context));
        self.sources
            .iter()
            .map(|(name, source)| {
                let path = format!("{}/{name}", self.folder);
                let text = environment
                    .render_named_str(&path, source, context.clone())
                    .map_err(|e| format!("template {path}: {e}"))?;
                parse(&path, &text)
            })
            .collect()
    }
}

/// Jinja as these templates use it: block tags alone on their line leave no line, the
/// last line break stays, nothing is escaped, and a misspelt variable is an error.
fn environment() -> Environment<'static> {
    let mut environment = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .unwrap_or_default();
    environment.set_syntax(syntax);
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    environment.set_auto_escape_callback(|_| AutoEscape::None);
    environment
}

/// Splits a rendered template into its front matter and its body.
fn parse(path: &str, text: &str) -> Result<Rendered, String> {
    let missing = || format!("template {path} must start with a front matter between `---` lines");
    let rest = text.strip_prefix("---\n").ok_or_else(missing)?;
    let (front, body) = match rest.find("\n---\n") {
        Some(end) => (&rest[..end], &rest[end + "\n---\n".len()..]),
        None => return Err(missing()),
    };
    let front: FrontMatter =
        yaml_serde::from_str(front).map_err(|e| format!("template {path}: front matter: {e}"))?;
    if front.to.is_none() && front.injections.is_empty() {
        return Err(format!(
            "template {path} has neither `to` nor `injections`: it would add nothing"
        ));
    }
    for injection in &front.injections {
        injection
            .place()
            .map_err(|e| format!("template {path}: {e}"))?;
    }
    Ok(Rendered {
        to: front.to,
        if_exists: front.if_exists,
        injections: front.injections,
        body: body.to_owned(),
    })
}

/// Adds what the rendered templates say to `plan`, in their order.
pub fn plan(plan: &mut Plan, rendered: Vec<Rendered>) -> Result<(), String> {
    for template in rendered {
        if let Some(to) = &template.to {
            if plan.exists(to) {
                match template.if_exists {
                    IfExists::Refuse => return Err(format!("{to} exists already")),
                    IfExists::Skip => continue,
                    IfExists::Append => plan.edit(to, |text| {
                        Ok(format!("{}\n{}", text.trim_end(), template.body))
                    })?,
                }
            } else {
                plan.create(to, template.body.clone())?;
            }
        }
        for injection in &template.injections {
            plan.edit(&injection.into, |text| {
                inject::apply(text, injection).map_err(|e| format!("{}: {e}", injection.into))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, context: minijinja::Value) -> Result<Rendered, String> {
        let text = environment()
            .render_named_str("test.t", source, context)
            .map_err(|e| e.to_string())?;
        parse("test.t", &text)
    }

    #[test]
    fn the_front_matter_says_where_the_body_goes() {
        let source = "---\nto: src/{{ name }}.rs\ninjections:\n  - into: src/lib.rs\n    among: \"pub mod \"\n    content: \"pub mod {{ name }};\"\n---\n{% for field in fields %}\n{{ field }}: i32,\n{% endfor %}\n";
        let rendered = render(
            source,
            minijinja::context! {name => "a", fields => ["x", "y"]},
        )
        .expect("renders");
        assert_eq!(rendered.to.as_deref(), Some("src/a.rs"));
        assert_eq!(rendered.if_exists, IfExists::Refuse);
        assert_eq!(
            rendered.body, "x: i32,\ny: i32,\n",
            "block tags leave no line"
        );
        assert_eq!(rendered.injections[0].into, "src/lib.rs");
        assert_eq!(rendered.injections[0].content, "pub mod a;");
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        for (source, says) in [
            ("no front matter\n", "must start with a front matter"),
            ("---\nto: a.rs\n", "must start with a front matter"),
            ("---\nfrom: a.rs\n---\n", "unknown field `from`"),
            (
                "---\nif_exists: skip\n---\nx\n",
                "neither `to` nor `injections`",
            ),
            ("---\nto: {{ nothing }}\n---\n", "undefined"),
            (
                "---\ninjections:\n  - into: a.rs\n    content: x\n---\n",
                "one place",
            ),
            (
                "---\ninjections:\n  - into: a.rs\n    content: x\n    append: true\n    before: y\n---\n",
                "one place",
            ),
        ] {
            let error = render(source, minijinja::context! {}).unwrap_err();
            assert!(error.contains(says), "{source:?}: {error}");
        }
    }
}
