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
    /// project's root. The file comes with the project's commits, so its value is read as
    /// a location and nothing else: a value git could take for an option or a command is
    /// refused.
    pub fn location(&self, project: &Path) -> Result<String, String> {
        if self.source.is_empty() {
            return Err(format!(
                "{FILE} does not say where the starter is (`source` is empty: the project was \
                 rendered with cargo-generate directly). Set `source` to the starter's folder \
                 or git URL, then run this again"
            ));
        }
        check_source(&self.source)?;
        if is_url(&self.source) || Path::new(&self.source).is_absolute() {
            Ok(self.source.clone())
        } else {
            Ok(project.join(&self.source).display().to_string())
        }
    }

    /// The recorded revision, refused when git could take it for an option.
    pub fn checked_revision(&self) -> Result<&str, String> {
        check_revision(&self.revision, &format!("{FILE}: `revision`"))?;
        Ok(&self.revision)
    }
}

/// The transports a starter may be cloned over; git refuses any other (`ext::`, `fd::`,
/// remote helpers), whatever its configuration says.
pub const PROTOCOLS: &str = "file:git:http:https:ssh";

/// Refuses a `source` that is not plainly a location.
fn check_source(source: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "{FILE}: `source` = {source:?} {why}. It must be the starter's folder or git URL \
             (a path, https://..., ssh://... or git@host:path); fix it (and check who \
             changed it: the next update merges whatever that repository holds)"
        ))
    };
    if source.starts_with('-') {
        return refuse("starts with '-', which git would take for an option");
    }
    if source.chars().any(char::is_control) {
        return refuse("has a control character (a line break?)");
    }
    if let Some((transport, _)) = source.split_once("::")
        && !transport.contains(['/', '\\', ':'])
    {
        return refuse(&format!(
            "names git transport `{transport}::`, which runs a program rather than reading a \
             repository"
        ));
    }
    if let Some((scheme, rest)) = source.split_once("://") {
        let known = ["file", "git", "http", "https", "ssh"]
            .iter()
            .any(|known| scheme.eq_ignore_ascii_case(known))
            || scheme.eq_ignore_ascii_case("git+ssh")
            || scheme.eq_ignore_ascii_case("ssh+git");
        if !known {
            return refuse(&format!(
                "uses `{scheme}://`, which git does not clone from"
            ));
        }
        // ssh://-oProxyCommand=...: a host (or user) ssh would read as an option.
        let authority = rest.split('/').next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        if authority.starts_with('-') || host.starts_with('-') {
            return refuse(
                "has a host or user starting with '-', which ssh would take for an option",
            );
        }
    } else if is_url(source) {
        let host = source.split(':').next().unwrap_or_default();
        if host.rsplit('@').next().unwrap_or_default().starts_with('-') {
            return refuse("has a host starting with '-', which ssh would take for an option");
        }
    }
    Ok(())
}

/// Refuses a revision git could take for an option, or that carries control characters.
pub fn check_revision(revision: &str, what: &str) -> Result<(), String> {
    if revision.starts_with('-') {
        return Err(format!(
            "{what} = {revision:?} starts with '-', which git would take for an option: give \
             a release tag (v0.2.0), a branch or a commit"
        ));
    }
    if revision.chars().any(char::is_control) {
        return Err(format!(
            "{what} = {revision:?} has a control character: give a release tag, a branch or a commit"
        ));
    }
    Ok(())
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

    #[test]
    fn sources_that_are_not_plainly_locations_are_refused() {
        let refused = [
            ("--upload-pack=touch /tmp/x", "starts with '-'"),
            ("-u", "starts with '-'"),
            ("ext::sh -c touch% /tmp/x", "transport `ext::`"),
            ("fd::3", "transport `fd::`"),
            (
                "ssh://-oProxyCommand=touch%20x/repo",
                "host or user starting with '-'",
            ),
            (
                "ssh://user@-oProxyCommand=x/repo",
                "host or user starting with '-'",
            ),
            ("-oProxyCommand=x:repo", "starts with '-'"),
            ("git@-oProxyCommand=x:repo", "host starting with '-'"),
            ("gopher://example.com/starter", "`gopher://`"),
            ("/srv/starter\n[values]", "control character"),
        ];
        for (source, why) in refused {
            // As TOML writes a line break in a string.
            let text = RENDERED.replace(
                "/home/team/rust-service-starter",
                &source.replace('\n', "\\n"),
            );
            let answers = Answers::parse(PathBuf::from(FILE), &text).expect("parses");
            assert_eq!(answers.source, source);
            let error = answers.location(Path::new("/p")).expect_err(source);
            assert!(error.contains(why), "{source:?}: {error}");
            assert!(error.contains("`source`"), "{error}");
        }
        for fine in [
            "/home/team/rust-service-starter",
            "../starter",
            "https://example.com/team/starter.git",
            "ssh://git@example.com/team/starter.git",
            "git@example.com:team/starter.git",
            "file:///srv/starter",
        ] {
            let text = RENDERED.replace("/home/team/rust-service-starter", fine);
            let answers = Answers::parse(PathBuf::from(FILE), &text).expect("parses");
            assert!(answers.location(Path::new("/p")).is_ok(), "{fine}");
        }
    }

    #[test]
    fn revisions_git_would_take_for_options_are_refused() {
        let text = RENDERED.replace("\"v0.2.0\"", "\"--output=/tmp/x\"");
        let answers = Answers::parse(PathBuf::from(FILE), &text).expect("parses");
        let error = answers.checked_revision().expect_err("refused");
        assert!(error.contains("starts with '-'"), "{error}");
        assert!(check_revision("v0.2.0", "--to").is_ok());
        assert!(check_revision("main\n", "--to").is_err());
    }
}
