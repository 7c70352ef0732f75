//! The layers of `src/`, read from the source: each top-level module (a folder, or a file
//! beside `lib.rs`) uses only the modules of the layers below its own, so the modules form
//! no import loop, and the engine in `src/queue/` reaches no controller, view or task.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, from the top layer down. A module may use the modules of any
/// layer below its own, and none of its own layer or above.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["app"],
    &["api"],
    // The service's tasks: entry points like the views, they call controllers.
    &["tasks"],
    // Controllers hold the logic; `auth` checks who calls (its HTTP side is `api::auth`).
    &["controllers", "auth"],
    // The engine: scheduling, the Redis queue, worker, beat, the task rows.
    &["queue"],
    &["models", "db"],
    &["metrics"],
    &["telemetry"],
    // The HTTP server under the API and the metrics listener: connections and their limits.
    &["server"],
    &["config"],
    // Speed-ups behind plain interfaces (the SQL of the busy reads, request ids, lock-free
    // look-ups, JSON log lines): they know nothing of the service, so any layer may use them.
    &["platform"],
];

/// Uses that go against the layers for now, each with what it is for.
const KNOWN: &[(&str, &str, &str)] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules: the folders and files beside `lib.rs`.
fn top_level_modules() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .expect("src is a folder")
        .map(|entry| entry.expect("folder entry").path())
        .filter(|path| path.is_dir() || path.extension().is_some_and(|ext| ext == "rs"))
        .filter_map(|path| module_path(Path::new(path.file_name()?)).first().cloned())
        .collect()
}

/// Which top-level modules each top-level module uses (`crate::x`, `super::x` from the
/// top), read from every `.rs` file under `src/` except `main.rs` (the binary).
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = src();
    let modules = top_level_modules();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let path = module_path(relative);
        let Some(top) = path.first().cloned() else {
            continue; // lib.rs, main.rs
        };
        let text = std::fs::read_to_string(&file).expect("readable source");
        let used = graph.entry(top.clone()).or_default();
        // Other names are items of lib.rs, or (`super::*` in an inline test module) of
        // the file itself.
        for target in referenced_modules(&text, &path) {
            if target != top && modules.contains(&target) {
                used.insert(target);
            }
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src is a folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `api/v1/persons.rs` → `[api, v1, persons]`; `api/mod.rs` → `[api]`; `lib.rs` → `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    if path.len() == 1 && (path[0] == "lib" || path[0] == "main") {
        path.clear();
    }
    path
}

/// The top-level modules that `text`, the source of module `path`, names. Comment lines
/// are skipped (doc comments may name paths that the code does not use).
fn referenced_modules(text: &str, path: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(start) = [rest.find("crate::"), rest.find("super::")]
            .into_iter()
            .flatten()
            .min()
        {
            let from_crate = rest[start..].starts_with("crate::");
            let before = rest[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                rest = &rest[start + 7..];
                continue;
            }
            let mut after = &rest[start + 7..];
            if from_crate {
                found.extend(first_segments(after));
            } else {
                // `super::` climbs from the module's own path; at the top it is the crate.
                let mut depth = path.len().saturating_sub(1);
                while let Some(more) = after.strip_prefix("super::") {
                    depth = depth.saturating_sub(1);
                    after = more;
                }
                if depth == 0 {
                    found.extend(first_segments(after));
                }
            }
            rest = after;
        }
    }
    found
}

/// `x::...` → `[x]`; `{x, y::z, w}` → `[x, y, w]`.
fn first_segments(after: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = after.strip_prefix('{') else {
        return vec![ident(after)];
    };
    let mut segments = Vec::new();
    let (mut depth, mut item_start) = (0usize, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && !c.is_whitespace() => {
                segments.push(ident(&group[i..]));
                item_start = false;
            }
            _ => {}
        }
    }
    segments
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_top_level_module_has_a_layer() {
    let unplaced: Vec<String> = top_level_modules()
        .into_iter()
        .filter(|module| layer_of(module).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "place these modules in LAYERS: {unplaced:?}"
    );
}

#[test]
fn modules_use_only_the_layers_below_their_own() {
    let graph = uses();
    let mut wrong = Vec::new();
    for (module, used) in &graph {
        for target in used {
            let (Some(from), Some(to)) = (layer_of(module), layer_of(target)) else {
                continue;
            };
            let known = KNOWN.iter().any(|(a, b, _)| a == module && b == target);
            if to <= from && !known {
                wrong.push(format!("{module} uses {target}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "uses against the layers (top to bottom: {LAYERS:?}): {wrong:?}\nthe graph: {graph:#?}"
    );
}

#[test]
fn the_engine_uses_no_controller_view_or_task() {
    let graph = uses();
    let engine = graph.get("queue").expect("src/queue exists");
    for above in ["controllers", "api", "tasks", "app", "cli"] {
        assert!(!engine.contains(above), "src/queue uses crate::{above}");
    }
}

#[test]
fn the_reader_finds_grouped_and_relative_uses() {
    let path = ["api".to_owned(), "v1".to_owned()];
    let text = "use crate::{app::AppState, db};\n\
                // crate::telemetry in a comment\n\
                let x = crate::metrics::global();\n\
                use super::super::queue::Queue;\n\
                use super::error::ApiError; use crate::cli;\n\
                let y = notcrate::tasks::z;";
    let found: Vec<String> = referenced_modules(text, &path).into_iter().collect();
    assert_eq!(found, ["app", "cli", "db", "metrics", "queue"]);
}
