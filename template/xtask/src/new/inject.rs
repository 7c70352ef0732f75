//! Lines added to files the project already has: a module among the others, or lines
//! above a marker comment that says where generated lines go.

/// Where `cargo xtask new resource` adds a resource's routes (`src/api/v1/mod.rs`).
pub const ROUTES_MARKER: &str =
    "// `cargo xtask new resource` adds the routes of new resources above this line.";
/// Where it adds a resource's entity to the migration drift test (`tests/api/schema.rs`).
pub const DRIFT_MARKER: &str =
    "// `cargo xtask new resource` adds the entities of new resources above this line.";
/// Where `cargo xtask new task` registers a task (in `registry()`).
pub const REGISTRY_MARKER: &str = "// `cargo xtask new task` registers new tasks above this line.";

/// Adds `{keyword} {name};` (`pub mod invoices;`) among the file's other such lines, in
/// alphabetical order.
pub fn module(text: &str, keyword: &str, name: &str, path: &str) -> Result<String, String> {
    let declaration = format!("{keyword} {name};");
    let prefix = format!("{keyword} ");
    let lines: Vec<&str> = text.lines().collect();
    let declared: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.starts_with(&prefix) && line.ends_with(';'))
        .map(|(at, _)| at)
        .collect();
    if declared.iter().any(|&at| lines[at] == declaration) {
        return Err(format!("{path} declares `{declaration}` already"));
    }
    let (Some(&first), Some(&last)) = (declared.first(), declared.last()) else {
        return Err(format!(
            "{path} has no `{keyword} ...;` line to add `{declaration}` beside"
        ));
    };
    let at = declared
        .iter()
        .copied()
        .find(|&at| lines[at] > declaration.as_str())
        .unwrap_or(last + 1)
        .max(first);
    let mut out: Vec<&str> = lines.clone();
    out.insert(at, &declaration);
    Ok(out.join("\n") + "\n")
}

/// Adds `new_lines` above the line that is `marker` (indented as it is).
pub fn before_marker(
    text: &str,
    marker: &str,
    new_lines: &str,
    path: &str,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + new_lines.len());
    let mut found = false;
    for line in text.lines() {
        if !found && line.trim() == marker {
            found = true;
            let indent = &line[..line.len() - line.trim_start().len()];
            for new_line in new_lines.lines() {
                out.push_str(indent);
                out.push_str(new_line);
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if !found {
        return Err(format!(
            "{path} has no line `{marker}`: put it back where generated code goes"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_added_in_order() {
        let text = "//! Doc.\npub mod persons;\npub mod tasks;\n\nfn x() {}\n";
        let added = module(text, "pub mod", "invoices", "f.rs").expect("added");
        assert_eq!(
            added,
            "//! Doc.\npub mod invoices;\npub mod persons;\npub mod tasks;\n\nfn x() {}\n"
        );
        let last = module(text, "pub mod", "widgets", "f.rs").expect("added");
        assert!(
            last.contains("pub mod tasks;\npub mod widgets;\n"),
            "{last}"
        );
        assert!(
            module(text, "pub mod", "tasks", "f.rs")
                .unwrap_err()
                .contains("already")
        );
        assert!(module("fn x() {}\n", "mod", "a", "f.rs").is_err());
    }

    #[test]
    fn lines_go_above_the_marker() {
        let text = format!("fn f() {}\n    a();\n    {ROUTES_MARKER}\n{}\n", "{", "}");
        let added = before_marker(&text, ROUTES_MARKER, "b();\nc();", "f.rs").expect("added");
        assert!(
            added.contains("    a();\n    b();\n    c();\n    // `cargo xtask"),
            "{added}"
        );
        assert!(
            before_marker("x\n", ROUTES_MARKER, "b();", "f.rs")
                .unwrap_err()
                .contains("f.rs")
        );
    }
}
