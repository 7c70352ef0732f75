//! The team's own documentation pages: the Markdown files of `docs/`, built into the
//! binary, rendered to HTML once, and served under `/doc/guide/` beside the generated API
//! reference at `/doc`. Nothing on them is fetched from elsewhere.
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

use super::error::ApiError;

/// Where the pages are served; `index.md` is the starting page, at the folder itself.
pub const BASE: &str = "/doc/guide/";

/// The pages, in the menu's order: each file of `docs/` without its `.md`. A page added
/// to the folder is added here too (a test checks that none is left out).
pub const PAGES: &[(&str, &str)] = &[
    ("index", include_str!("../../docs/index.md")),
    ("tasks", include_str!("../../docs/tasks.md")),
    ("errors", include_str!("../../docs/errors.md")),
    ("paging", include_str!("../../docs/paging.md")),
];

/// The routes of the pages (they are not API routes: the OpenAPI document leaves them out,
/// like the reference's own files).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let pages = Arc::new(render_all());
    let index = pages.get("index").cloned().unwrap_or_default();
    let base = BASE.trim_end_matches('/');
    Router::new()
        // Relative links resolve from the folder, so the folder ends with a slash.
        .route(base, get(|| async { Redirect::permanent("guide/") }))
        .route(BASE, get(|| async move { Html(index) }))
        .route(
            &[BASE, "{page}"].concat(),
            get(move |Path(page): Path<String>| async move {
                match pages.get(page.as_str()) {
                    Some(html) => Html(html.clone()).into_response(),
                    None => not_a_page(),
                }
            }),
        )
}

fn not_a_page() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "no such documentation page").into_response()
}

/// Every page as a whole HTML document, by name.
fn render_all() -> BTreeMap<&'static str, String> {
    let menu: Vec<(&str, String)> = PAGES
        .iter()
        .map(|(name, markdown)| (*name, title(markdown)))
        .collect();
    PAGES
        .iter()
        .map(|(name, markdown)| (*name, page(name, markdown, &menu)))
        .collect()
}

/// The text of a page's first heading, else its name.
fn title(markdown: &str) -> String {
    let mut in_heading = false;
    let mut text = String::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { .. }) => in_heading = true,
            Event::End(TagEnd::Heading(_)) => break,
            Event::Text(t) | Event::Code(t) if in_heading => text.push_str(&t),
            _ => {}
        }
    }
    text
}

/// One page: the menu, then the Markdown as HTML.
fn page(name: &str, markdown: &str, menu: &[(&str, String)]) -> String {
    let mut nav = String::new();
    for (other, title) in menu {
        let current = if *other == name {
            " aria-current=\"page\""
        } else {
            ""
        };
        nav.push_str(&format!(
            "<a href=\"{}\"{current}>{}</a>\n",
            page_link(other),
            escape(title)
        ));
    }
    nav.push_str("<a href=\"../\">API reference</a>\n");
    let title = menu
        .iter()
        .find(|(other, _)| *other == name)
        .map_or(name, |(_, title)| title.as_str());
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<nav>\n{nav}</nav>\n\
         <main>\n{}</main>\n</body>\n</html>\n",
        escape(title),
        to_html(markdown)
    )
}

/// The Markdown as HTML: links to `other.md` become links to that page, and headings get
/// ids (`## Request ids` is `#request-ids`) that links can point to.
fn to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES;
    let mut events: Vec<Event> = Parser::new_ext(markdown, options)
        .map(|event| match event {
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => Event::Start(Tag::Link {
                link_type,
                dest_url: rewrite_link(dest_url),
                title,
                id,
            }),
            event => event,
        })
        .collect();
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Heading { id: None, .. }) = &events[i] {
            let mut text = String::new();
            for event in &events[i + 1..] {
                match event {
                    Event::End(TagEnd::Heading(_)) => break,
                    Event::Text(t) | Event::Code(t) => text.push_str(t),
                    _ => {}
                }
            }
            if let Event::Start(Tag::Heading { id, .. }) = &mut events[i] {
                *id = Some(CowStr::from(slug(&text)));
            }
        }
        i += 1;
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

/// `errors.md#x` → `errors#x`, `index.md` → `./`: the pages' addresses, relative to
/// [`BASE`]. Other links are left as they are.
fn rewrite_link(url: CowStr<'_>) -> CowStr<'_> {
    let (path, fragment) = match url.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (url.as_ref(), None),
    };
    let Some(name) = path.strip_suffix(".md") else {
        return url;
    };
    if name.contains(['/', ':']) {
        return url;
    }
    let mut link = page_link(name);
    if let Some(fragment) = fragment {
        link.push('#');
        link.push_str(fragment);
    }
    CowStr::from(link)
}

/// A page's address relative to [`BASE`].
fn page_link(name: &str) -> String {
    if name == "index" {
        "./".to_owned()
    } else {
        name.to_owned()
    }
}

/// A heading's id: its words, lowercase, joined by dashes.
fn slug(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The pages' look, inline: no stylesheet to fetch.
const STYLE: &str = "body{font-family:system-ui,sans-serif;line-height:1.5;margin:0;\
color:#222}nav{background:#1b1b1b;padding:.6em 1em}nav a{color:#eee;margin-right:1.2em;\
text-decoration:none}nav a[aria-current]{font-weight:bold;text-decoration:underline}\
main{max-width:50em;margin:1em auto;padding:0 1em}code,pre{background:#f4f4f4;\
font-size:.95em}pre{padding:.6em;overflow-x:auto}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_docs_folder_is_a_page() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .expect("docs/")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        let mut pages: Vec<String> = PAGES.iter().map(|(name, _)| format!("{name}.md")).collect();
        pages.sort();
        assert_eq!(
            files, pages,
            "docs/ and PAGES (src/api/docs.rs) list the same pages"
        );
    }

    #[test]
    fn links_to_pages_lose_their_extension_and_headings_get_ids() {
        let html = to_html(
            "## Request ids\n\n[a](errors.md#the-statuses) [b](index.md) [c](../) \
             [d](https://example.com/x.md)\n",
        );
        assert!(
            html.contains("<h2 id=\"request-ids\">Request ids</h2>"),
            "{html}"
        );
        assert!(html.contains("href=\"errors#the-statuses\""), "{html}");
        assert!(html.contains("href=\"./\""), "{html}");
        assert!(html.contains("href=\"../\""), "{html}");
        assert!(html.contains("href=\"https://example.com/x.md\""), "{html}");
    }

    #[test]
    fn a_page_has_its_title_the_menu_and_no_outside_resource() {
        let pages = render_all();
        let errors = &pages["errors"];
        assert!(errors.contains("<title>Errors</title>"), "{errors}");
        assert!(
            errors.contains("<a href=\"./\">The service's guide</a>"),
            "{errors}"
        );
        assert!(
            errors.contains("<a href=\"errors\" aria-current=\"page\">Errors</a>"),
            "{errors}"
        );
        assert!(errors.contains("<table>"), "tables are rendered");
        for html in pages.values() {
            assert!(
                !html.contains("<script") && !html.contains("<link"),
                "{html}"
            );
            assert!(!html.contains("src="), "{html}");
        }
    }
}
