//! Names: what a valid one is, and the forms a generator derives from it.

/// Rust's keywords, reserved words included (2024 edition): none can name a module,
/// a field or a function.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "union", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Whether `name` is lower snake_case: a letter, then letters and digits, words joined by
/// single underscores (`line_item`, `amount_cents`, `v2_total`).
pub fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('_').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

pub fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// Checks that `name` can name a Rust item in snake_case; `what` says what it names.
pub fn check_identifier(name: &str, what: &str) -> Result<(), String> {
    if !is_snake_case(name) {
        return Err(format!(
            "{what} {name:?} must be lower snake_case (letters, digits and single underscores, starting with a letter)"
        ));
    }
    if is_keyword(name) {
        return Err(format!("{what} {name:?} is a Rust keyword"));
    }
    Ok(())
}

/// `line_item` → `LineItem`.
pub fn camel(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `line_item` → `line item`, for sentences.
pub fn words(name: &str) -> String {
    name.replace('_', " ")
}

/// The English plural of a snake_case name, by its last word: `invoice` → `invoices`,
/// `line_item` → `line_items`, `category` → `categories`, `box` → `boxes`. Irregular
/// ones (`person` → `people`) are given with `--plural`.
pub fn plural(name: &str) -> String {
    let (head, last) = match name.rfind('_') {
        Some(at) => (&name[..=at], &name[at + 1..]),
        None => ("", name),
    };
    let vowel = |c: char| "aeiou".contains(c);
    let pluralised = if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| last.ends_with(end))
    {
        last.to_owned() + "es"
    } else if let Some(stem) = last.strip_suffix('y')
        && stem.chars().next_back().is_some_and(|c| !vowel(c))
    {
        stem.to_owned() + "ies"
    } else {
        last.to_owned() + "s"
    };
    head.to_owned() + &pluralised
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_is_letters_digits_and_single_underscores() {
        for good in ["invoice", "line_item", "amount_cents", "v2", "a1_b2"] {
            assert!(is_snake_case(good), "{good}");
        }
        for bad in [
            "",
            "Invoice",
            "lineItem",
            "line-item",
            "1st",
            "_x",
            "x_",
            "a__b",
            "café",
            "a b",
        ] {
            assert!(!is_snake_case(bad), "{bad}");
        }
    }

    #[test]
    fn keywords_are_refused() {
        assert!(
            check_identifier("type", "field")
                .unwrap_err()
                .contains("keyword")
        );
        assert!(
            check_identifier("gen", "field").is_err(),
            "reserved in 2024"
        );
        assert!(check_identifier("kind", "field").is_ok());
        assert!(
            check_identifier("Kind", "field")
                .unwrap_err()
                .contains("snake_case")
        );
    }

    #[test]
    fn camel_case_joins_the_words() {
        assert_eq!(camel("line_item"), "LineItem");
        assert_eq!(camel("invoice"), "Invoice");
        assert_eq!(camel("v2_total"), "V2Total");
    }

    #[test]
    fn plurals_follow_english_spelling_of_the_last_word() {
        for (one, many) in [
            ("invoice", "invoices"),
            ("line_item", "line_items"),
            ("category", "categories"),
            ("key", "keys"),
            ("box", "boxes"),
            ("status", "statuses"),
            ("batch", "batches"),
            ("wish", "wishes"),
            ("buzz", "buzzes"),
            ("order_line", "order_lines"),
            ("delivery_company", "delivery_companies"),
        ] {
            assert_eq!(plural(one), many);
        }
    }
}
