//! `.starter/answers.toml`: the answers this project was rendered with, the starter's
//! version, and where to find the revision that rendered it.
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item};

/// Where the file is, from the project's root.
pub const FILE: &str = ".starter/answers.toml";

/// What `.starter/answers.toml` records.
#[derive(Debug)]
pub struct Answers {
    /// The file itself, handed to cargo-generate as its values file.
    pub path: PathBuf,
    /// The answer to cargo-generate's `--name`, as rendered (kebab-case).
    pub project_name: String,
    /// The starter's version at that revision.
    pub version: String,
    /// The starter as the team gave it: a folder or a git URL (empty when unknown).
    pub source: String,
    /// The release tag or commit that rendered the project (empty when unknown).
    pub revision: String,
}

impl Answers {
    /// Reads the project's answers.
    pub fn read(project: &Path) -> Result<Self, String> {
        let path = project.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read {FILE} ({e}): this project does not say which starter it came from"
            )
        })?;
        Self::parse(path, &text)
    }

    fn parse(path: PathBuf, text: &str) -> Result<Self, String> {
        let document: DocumentMut = text.parse().map_err(|e| format!("{FILE}: {e}"))?;
        let field = |table: &str, key: &str| -> Result<String, String> {
            match document.get(table).and_then(|t| t.get(key)) {
                Some(Item::Value(value)) => value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{FILE}: {table}.{key} is not a string")),
                _ => Err(format!("{FILE} has no {table}.{key}")),
            }
        };
        // Projects rendered before the source was recorded have no such keys: empty.
        let optional =
            |key: &str| field("template", key).or_else(|_| Ok::<_, String>(String::new()));
        Ok(Self {
            project_name: field("values", "project-name")?,
            version: field("template", "version")?,
            source: optional("source")?,
            revision: optional("revision")?,
            path,
        })
    }

    /// The starter's location for `git clone`: a URL as it is, a relative folder from the
    /// project's root.
    pub fn location(&self, project: &Path) -> Result<String, String> {
        if self.source.is_empty() {
            return Err(format!(
                "{FILE} does not say where the starter is (`source` is empty: the project was \
                 rendered with cargo-generate directly). Set `source` to the starter's folder \
                 or git URL, then run this again"
            ));
        }
        if is_url(&self.source) || Path::new(&self.source).is_absolute() {
            Ok(self.source.clone())
        } else {
            Ok(project.join(&self.source).display().to_string())
        }
    }
}

/// `scheme://...` or git's `[user@]host:path`.
fn is_url(source: &str) -> bool {
    source.contains("://")
        || source
            .split_once(':')
            .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = r#"
[template]
name = "rust-service-starter"
version = "0.2.0"
source = "/home/team/rust-service-starter"
revision = "v0.2.0"

[values]
project-name = "acme-billing"
crate_name = "acme_billing"
"#;

    #[test]
    fn reads_what_a_render_writes() {
        let answers = Answers::parse(PathBuf::from(FILE), RENDERED).expect("parses");
        assert_eq!(answers.project_name, "acme-billing");
        assert_eq!(answers.version, "0.2.0");
        assert_eq!(answers.source, "/home/team/rust-service-starter");
        assert_eq!(answers.revision, "v0.2.0");
    }

    #[test]
    fn escaped_sources_are_read_back_as_given() {
        let text = RENDERED.replace(
            r#""/home/team/rust-service-starter""#,
            r#""C:\\src\\starter \"new\"""#,
        );
        let answers = Answers::parse(PathBuf::from(FILE), &text).expect("parses");
        assert_eq!(answers.source, r#"C:\src\starter "new""#);
    }

    #[test]
    fn an_unknown_source_is_explained() {
        let text = RENDERED.replace("/home/team/rust-service-starter", "");
        let answers = Answers::parse(PathBuf::from(FILE), &text).expect("parses");
        let error = answers.location(Path::new("/p")).expect_err("no source");
        assert!(error.contains("Set `source`"), "{error}");
    }

    #[test]
    fn relative_folders_are_taken_from_the_project() {
        let text = RENDERED.replace("/home/team/rust-service-starter", "../starter");
        let answers = Answers::parse(PathBuf::from(FILE), &text).expect("parses");
        assert_eq!(answers.location(Path::new("/p")).unwrap(), "/p/../starter");
        for url in [
            "https://example.com/starter.git",
            "git@example.com:team/starter.git",
        ] {
            assert!(is_url(url), "{url}");
        }
        assert!(!is_url("../starter"));
    }
}
