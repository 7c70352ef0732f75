//! Code templates: files under `xtask/templates/` with `__name__` markers. A marker alone
//! on its line stands for a block of lines (removed when the block is empty); anywhere
//! else it stands for a word. rustfmt lays the result out afterwards.

/// `template` with each `(marker, text)` put in; every marker of the template must be
/// given (a forgotten one is a bug of the generator, caught by its tests).
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    for line in template.lines() {
        let alone = values.iter().find(|(marker, _)| line.trim() == *marker);
        match alone {
            Some((_, block)) => {
                for block_line in block.lines() {
                    out.push_str(block_line);
                    out.push('\n');
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    // Longest first: `__resources__` before `__resource__` would not matter, but
    // `__A_resource__` and `__a_resource__` are distinct only by case.
    let mut ordered: Vec<&(&str, String)> = values.iter().collect();
    ordered.sort_by_key(|(marker, _)| std::cmp::Reverse(marker.len()));
    for (marker, text) in ordered {
        out = out.replace(marker, text);
    }
    out
}

/// The markers of `text` that were not filled in (`__word__`).
pub fn leftovers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("__") {
        let after = &rest[start + 2..];
        let word: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if let Some(name) = word.strip_suffix("__")
            && !name.is_empty()
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        {
            found.push(format!("__{name}__"));
        }
        rest = &after[word.len().min(after.len())..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_fill_words_and_whole_lines() {
        let template = "struct __Name__ {\n    __fields__\n}\n__nothing__\n";
        let filled = fill(
            template,
            &[
                ("__Name__", "Invoice".into()),
                ("__fields__", "a: i32,\nb: i64,".into()),
                ("__nothing__", String::new()),
            ],
        );
        assert_eq!(filled, "struct Invoice {\na: i32,\nb: i64,\n}\n");
        assert!(leftovers(&filled).is_empty());
        assert_eq!(leftovers("x __left__ y __init"), ["__left__"]);
    }
}
