//! The starter's release notes: `CHANGELOG.md` at its root, one `## vX.Y.Z` section per
//! release (what changed, what a team must do by hand), newest first, and perhaps an
//! `## Unreleased` section above them.
use super::source::{Version, release};

/// Where the notes are, in the starter.
pub const FILE: &str = "CHANGELOG.md";

/// One section of the notes.
#[derive(Debug, PartialEq)]
pub struct Section {
    /// The release it describes; `None` for `## Unreleased`.
    pub version: Option<Version>,
    /// The section as written, heading included.
    pub text: String,
}

/// The sections of a changelog, in the file's order. Level-2 headings that name neither a
/// release nor `Unreleased` belong to the section above them.
pub fn sections(changelog: &str) -> Vec<Section> {
    let mut found: Vec<Section> = Vec::new();
    let mut current: Option<Section> = None;
    for line in changelog.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            let name = heading
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_matches(['[', ']']);
            let version = release(name);
            if version.is_some() || name.eq_ignore_ascii_case("unreleased") {
                found.extend(current.take());
                current = Some(Section {
                    version,
                    text: String::new(),
                });
            }
        }
        if let Some(section) = current.as_mut() {
            section.text.push_str(line);
            section.text.push('\n');
        }
    }
    found.extend(current);
    for section in &mut found {
        section.text = format!("{}\n", section.text.trim_end());
    }
    found
}

/// The sections of the releases after `from` up to `to` included, oldest first (the order
/// their steps by hand are taken in), with `Unreleased` last when `unreleased` is asked for.
pub fn between(
    changelog: &str,
    from: Option<Version>,
    to: Option<Version>,
    unreleased: bool,
) -> Vec<Section> {
    let mut chosen: Vec<Section> = sections(changelog)
        .into_iter()
        .filter(|section| match section.version {
            Some(version) => {
                from.is_none_or(|from| version > from) && to.is_none_or(|to| version <= to)
            }
            None => unreleased,
        })
        .collect();
    chosen.sort_by_key(|section| (section.version.is_none(), section.version));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGELOG: &str = "# Changelog\n\nIntro.\n\n## Unreleased\n\n- Work in progress.\n\n\
        ## v0.3.0 (2026-12-01)\n\n### Changed\n- Moved a file.\n\n### By hand\n- Nothing.\n\n\
        ## [v0.2.0] - 2026-11-01\n\n- Dependencies.\n\n## Notes on numbering\n\nPatch releases.\n\n\
        ## v0.1.0\n\nThe first release.\n";

    fn versions(sections: &[Section]) -> Vec<Option<Version>> {
        sections.iter().map(|section| section.version).collect()
    }

    #[test]
    fn sections_are_read_with_their_headings_and_subsections() {
        let all = sections(CHANGELOG);
        assert_eq!(
            versions(&all),
            [None, Some((0, 3, 0)), Some((0, 2, 0)), Some((0, 1, 0))]
        );
        assert_eq!(
            all[1].text,
            "## v0.3.0 (2026-12-01)\n\n### Changed\n- Moved a file.\n\n### By hand\n- Nothing.\n"
        );
        // A level-2 heading that names no release stays in the section above it.
        assert!(
            all[2]
                .text
                .ends_with("## Notes on numbering\n\nPatch releases.\n")
        );
        assert_eq!(all[3].text, "## v0.1.0\n\nThe first release.\n");
    }

    #[test]
    fn the_releases_between_two_versions_come_oldest_first() {
        let chosen = between(CHANGELOG, Some((0, 1, 0)), Some((0, 3, 0)), false);
        assert_eq!(versions(&chosen), [Some((0, 2, 0)), Some((0, 3, 0))]);
        let skipped_none = between(CHANGELOG, Some((0, 2, 0)), Some((0, 2, 0)), false);
        assert!(skipped_none.is_empty());
        let to_a_branch = between(CHANGELOG, Some((0, 2, 0)), Some((0, 3, 0)), true);
        assert_eq!(versions(&to_a_branch), [Some((0, 3, 0)), None]);
        let unknown_start = between(CHANGELOG, None, Some((0, 2, 0)), false);
        assert_eq!(versions(&unknown_start), [Some((0, 1, 0)), Some((0, 2, 0))]);
        assert!(between("no sections\n", Some((0, 1, 0)), None, true).is_empty());
    }
}
