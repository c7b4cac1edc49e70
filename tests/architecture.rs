//! The floors of ARCHITECTURE.md, checked: the foundation imports nothing
//! above it, and the rules (`api_key/`, `oauth/`) import nothing from HTTP,
//! the adapters or the stores. A path through the flat root re-exports
//! (`crate::HttpAuth`) counts as much as a module path (`crate::http::…`).
//! Comments (doc links) do not count.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// The foundation: files that may import only one another.
const FLOOR: &[&str] = &[
    "answer",
    "audit",
    "clock",
    "credential",
    "error",
    "ids",
    "metrics",
    "names",
    "principal",
    "scope",
    "secret",
    "tenant",
];

/// What the rules may not import.
const ABOVE_RULES: &[&str] = &["http", "axum", "actix", "store", "testkit"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file at or below `path`.
fn files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(path).unwrap() {
        out.extend(files(&entry.unwrap().path()));
    }
    out.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    out
}

fn module_files(name: &str) -> Vec<PathBuf> {
    let dir = src().join(name);
    if dir.is_dir() {
        files(&dir)
    } else {
        files(&src().join(format!("{name}.rs")))
    }
}

/// The code of `file` without comments and without its unit tests (the
/// `#[cfg(test)]` module at the end, which may use any store).
fn code(file: &Path) -> String {
    fs::read_to_string(file)
        .unwrap()
        .lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The names a file defines publicly (`pub struct X`, `pub fn x`, …).
fn defined(file: &Path) -> BTreeSet<String> {
    let text = code(file);
    let mut names = BTreeSet::new();
    for kind in [
        "struct", "enum", "trait", "type", "const fn", "fn", "const", "static", "mod",
    ] {
        for prefix in [format!("pub {kind} "), format!("pub(crate) {kind} ")] {
            for part in text.split(&prefix).skip(1) {
                names.insert(ident(part));
            }
        }
    }
    // The id newtypes: `id! { KeyId, … }`.
    for part in text.split("id! {").skip(1) {
        names.insert(ident(part));
    }
    names.remove("fn");
    names
}

/// Every identifier named on a `crate::` path in `file`, braces included
/// (`use crate::{a::B, C}` names `a`, `B` and `C`).
fn crate_paths(file: &Path) -> Vec<String> {
    let text = code(file);
    let mut idents = Vec::new();
    for part in text.split("crate::").skip(1) {
        let taken: String = if part.starts_with('{') {
            let mut depth = 0;
            part.chars()
                .take_while(|c| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth > 0
                })
                .collect()
        } else {
            part.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect()
        };
        idents.extend(
            taken
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|s| !s.is_empty() && !["self", "as"].contains(s))
                .map(str::to_owned),
        );
    }
    idents
}

fn relative(file: &Path) -> String {
    file.strip_prefix(src()).unwrap().display().to_string()
}

#[test]
fn the_foundation_imports_nothing_above_it() {
    let floor_files: Vec<PathBuf> = FLOOR.iter().flat_map(|m| module_files(m)).collect();
    let mut allowed: BTreeSet<String> = FLOOR.iter().map(|m| (*m).to_owned()).collect();
    for file in &floor_files {
        allowed.extend(defined(file));
    }
    let mut breaches = Vec::new();
    for file in &floor_files {
        for ident in crate_paths(file) {
            if !allowed.contains(&ident) {
                breaches.push(format!("{} names crate::…{ident}", relative(file)));
            }
        }
    }
    assert!(
        breaches.is_empty(),
        "the foundation imports from above it:\n{}",
        breaches.join("\n")
    );
}

#[test]
fn the_rules_import_nothing_from_http_adapters_or_stores() {
    let mut forbidden: BTreeSet<String> = ABOVE_RULES.iter().map(|m| (*m).to_owned()).collect();
    for module in ABOVE_RULES {
        for file in module_files(module) {
            forbidden.extend(defined(&file));
        }
    }
    // The rules' own modules, and the names they define, are theirs,
    // whoever else uses them too.
    forbidden.remove("api_key");
    forbidden.remove("oauth");
    let rule_files: Vec<PathBuf> = ["api_key", "oauth"]
        .iter()
        .flat_map(|m| module_files(m))
        .collect();
    for file in &rule_files {
        for name in defined(file) {
            forbidden.remove(&name);
        }
    }
    let mut breaches = Vec::new();
    for file in &rule_files {
        let text = code(file);
        if text.contains("super::http") || text.contains("super::super::http") {
            breaches.push(format!("{} names super::http", relative(file)));
        }
        for ident in crate_paths(file) {
            if forbidden.contains(&ident) {
                breaches.push(format!("{} names crate::…{ident}", relative(file)));
            }
        }
    }
    assert!(
        breaches.is_empty(),
        "the rules import from HTTP, an adapter or a store:\n{}",
        breaches.join("\n")
    );
}

#[test]
fn the_check_catches_a_breach() {
    // The checker itself: a floor file that imported from `http` (directly
    // or through a root re-export) would be reported.
    let dir = std::env::temp_dir().join(format!("papyrus-arch-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("floor.rs");
    fs::write(
        &file,
        "/// See [`crate::http::HttpAuth`].\nuse crate::{ids::KeyId, http::HttpAuth};\nfn f() { crate::store::x(); }\n",
    )
    .unwrap();
    let named = crate_paths(&file);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(named, ["ids", "KeyId", "http", "HttpAuth", "store", "x"]);
}
