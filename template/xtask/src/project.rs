//! The project the generators work on: where it is, its names, and what it has already.
use std::path::PathBuf;

/// Names nothing generated may take, besides what the project's files show: routes the
/// service serves outside `/v1`, and tables sea-orm keeps.
const RESERVED: &[&str] = &[
    "api",
    "doc",
    "docs",
    "health",
    "metrics",
    "mon",
    "seaql_migrations",
    "support",
    "v1",
    "v2",
];

/// The project's folder and names, read from its own `Cargo.toml`.
pub struct Project {
    pub root: PathBuf,
    /// The package (and binary) name: `acme-billing`.
    pub package: String,
    /// The crates the service depends on, as Rust names (`sea_orm`): a module named like
    /// one would shadow it.
    pub dependencies: Vec<String>,
}

impl Project {
    /// The project this xtask belongs to: the folder above `xtask/`.
    pub fn locate() -> Result<Self, String> {
        // `cargo run` sets it; the compile-time value serves when run otherwise.
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest_dir
            .parent()
            .ok_or("xtask/ has no parent folder")?
            .to_owned();
        Self::at(root)
    }

    /// The project whose `Cargo.toml` is in `root`.
    pub fn at(root: PathBuf) -> Result<Self, String> {
        let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
            .map_err(|e| format!("cannot read {}: {e}", root.join("Cargo.toml").display()))?;
        let package = package_name(&manifest).ok_or_else(|| {
            format!(
                "{} has no [package] name",
                root.join("Cargo.toml").display()
            )
        })?;
        let dependencies = section_keys(&manifest, "dependencies")
            .into_iter()
            .map(|key| key.replace('-', "_"))
            .collect();
        Ok(Self {
            root,
            package,
            dependencies,
        })
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn exists(&self, relative: &str) -> bool {
        self.path(relative).exists()
    }

    /// A file of the project, or a sentence saying why it cannot be read.
    pub fn read(&self, relative: &str) -> Result<String, String> {
        std::fs::read_to_string(self.path(relative))
            .map_err(|e| format!("cannot read {relative}: {e}"))
    }

    /// The modules of a source folder: its `.rs` files (`mod.rs` aside) and sub-folders.
    pub fn modules(&self, folder: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.path(folder)) else {
            return Vec::new();
        };
        let mut found: Vec<String> = entries
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                let stem = path.file_stem()?.to_str()?.to_owned();
                let rust = path.extension().is_some_and(|e| e == "rs");
                (path.is_dir() || (rust && stem != "mod" && stem != "main")).then_some(stem)
            })
            .collect();
        found.sort();
        found
    }

    /// The `.rs` files below `folder`, recursively, relative to the project.
    pub fn rust_files(&self, folder: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut pending = vec![self.path(folder)];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()) {
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && let Ok(relative) = path.strip_prefix(&self.root)
                {
                    found.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        found.sort();
        found
    }

    /// Every table the migrations create (a `DeriveIden` enum with a `Table` variant) and
    /// every table a model names.
    pub fn tables(&self) -> Vec<String> {
        let mut tables = Vec::new();
        for file in self.rust_files("migration/src") {
            let Ok(text) = self.read(&file) else { continue };
            tables.extend(iden_tables(&text));
        }
        for file in self.rust_files("src/models") {
            let Ok(text) = self.read(&file) else { continue };
            tables.extend(quoted_after(&text, "table_name = \""));
        }
        tables.sort();
        tables.dedup();
        tables
    }

    /// The collections of `/v1`: the first segment of its routes of one or two segments
    /// (`persons` for `/v1/persons` and `/v1/persons/{id}`; a route further down, such
    /// as `/v1/persons/{id}/birthday`, extends a collection without making one).
    pub fn routes(&self) -> Vec<String> {
        let mut routes = Vec::new();
        for file in self.rust_files("src/api/v1") {
            let Ok(text) = self.read(&file) else { continue };
            for path in quoted_after(&text, "path = \"") {
                let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
                if let Some(first) = segments.first()
                    && !first.is_empty()
                    && segments.len() <= 2
                {
                    routes.push((*first).to_owned());
                }
            }
        }
        routes.sort();
        routes.dedup();
        routes
    }

    /// The table of the model `src/models/{singular}.rs`, if there is one.
    pub fn model_table(&self, singular: &str) -> Option<String> {
        let text = self.read(&format!("src/models/{singular}.rs")).ok()?;
        quoted_after(&text, "table_name = \"").into_iter().next()
    }

    /// Whether `name` is reserved whatever the project holds.
    pub fn is_reserved(&self, name: &str) -> bool {
        RESERVED.contains(&name)
            || ["std", "core", "alloc", "crate", "migration"].contains(&name)
            || self.dependencies.iter().any(|d| d == name)
            || self.package.replace('-', "_") == name
    }
}

/// `name` of the `[package]` section.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "name"
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// The keys of a TOML section (`serde = ...`, `sea-orm-migration.workspace = true`).
fn section_keys(manifest: &str, section: &str) -> Vec<String> {
    let header = format!("[{section}]");
    let mut inside = false;
    let mut keys = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        if inside
            && let Some((key, _)) = line.split_once('=')
            && !line.starts_with('#')
        {
            let key = key.split('.').next().unwrap_or_default().trim();
            keys.push(key.trim_matches('"').to_owned());
        }
    }
    keys
}

/// Every string literal that follows `marker` in `text`.
fn quoted_after(text: &str, marker: &str) -> Vec<String> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// The tables of a migration: `enum Invoices { Table, ... }` gives `invoices`.
fn iden_tables(text: &str) -> Vec<String> {
    let mut tables = Vec::new();
    for (at, _) in text.match_indices("enum ") {
        let rest = &text[at + "enum ".len()..];
        let Some(open) = rest.find('{') else { continue };
        let name = rest[..open].trim();
        let Some(close) = rest.find('}') else {
            continue;
        };
        let has_table = rest[open + 1..close]
            .split(',')
            .any(|variant| variant.trim() == "Table");
        if has_table && name.chars().all(|c| c.is_ascii_alphanumeric()) {
            tables.push(snake(name));
        }
    }
    tables
}

/// `LineItems` → `line_items`.
pub fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_name_and_dependencies_are_read_from_the_manifest() {
        let manifest = "[workspace]\nmembers = [\".\"]\n\n[package]\nname = \"acme-billing\"\n\
            version = \"0.1.0\"\n\n[dependencies]\nsea-orm = \"2\"\n# a comment\n\
            migration = { path = \"migration\" }\nsea-orm-migration.workspace = true\n\n\
            [dev-dependencies]\ntempfile = \"3\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("acme-billing"));
        assert_eq!(
            section_keys(manifest, "dependencies"),
            ["sea-orm", "migration", "sea-orm-migration"]
        );
    }

    #[test]
    fn tables_are_found_in_migration_idens() {
        let migration = "#[derive(DeriveIden)]\nenum LineItems {\n    Table,\n    Id,\n}\n\n\
            #[derive(DeriveIden)]\nenum Other {\n    Id,\n}\n";
        assert_eq!(iden_tables(migration), ["line_items"]);
        assert_eq!(snake("Persons"), "persons");
    }

    #[test]
    fn routes_and_tables_of_the_template_are_seen() {
        // The project this xtask lives in.
        let project = Project::locate().expect("the project");
        let routes = project.routes();
        for route in ["persons", "people", "tasks"] {
            assert!(routes.iter().any(|r| r == route), "{route} in {routes:?}");
        }
        let tables = project.tables();
        for table in ["persons", "tasks"] {
            assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
        }
        assert_eq!(project.model_table("person").as_deref(), Some("persons"));
        assert!(
            project
                .modules("src/controllers")
                .contains(&"persons".to_owned())
        );
        assert!(project.is_reserved("sea_orm") && project.is_reserved("mon"));
    }
}
