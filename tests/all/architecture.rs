//! The module graph of the host crate stays a tree of layers: each module uses only modules
//! below it, and only the HTTP layer knows the web framework. Read from the source, so a
//! new import that breaks a layer fails here with the file and the import named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The host's top-level modules, lowest first: a module may use those before it only.
const LAYERS: &[&str] = &[
    "sandbox",
    "time",
    "telemetry",
    "mail",
    "crypto",
    "vocab",
    "events",
    "rql",
    "store",
    "cache",
    "metrics",
    "recorder",
    "exec",
    "delivery",
    "process",
    "admin",
    "config",
    "runner",
    "portal",
    "api",
    "server",
    "scaffold",
    "demo",
    "cli",
];

/// The modules that may use the web framework: the HTTP APIs, the server that serves them,
/// and the demo's own receiver.
const HTTP: &[&str] = &["api", "server", "demo"];

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`api/webhooks/input.rs` → `api`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The code of a file without its unit tests (they may use anything).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules `code` names through `crate::…`, including inside
/// `use crate::{a, b::c};` groups.
fn crate_uses(code: &str) -> BTreeSet<String> {
    let mut uses = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // The group's top-level items, up to its matching brace.
            let (mut depth, mut item_start, mut end) = (0usize, 0usize, group.len());
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = i;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        uses.insert(ident(group[item_start..i].trim()).to_owned());
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
            uses.insert(ident(group[item_start..end].trim()).to_owned());
        } else {
            uses.insert(ident(after).to_owned());
        }
        rest = after;
    }
    uses.remove("");
    uses.remove("self");
    uses
}

#[test]
fn modules_use_only_the_layers_below_them() {
    // The tests belong to `cli/`; the host library is its sibling.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut broken = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let Some(&own) = rank.get(module.as_str()) else {
            broken.push(format!(
                "{}: module `{module}` has no layer",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let code = without_tests(&text);
        for used in crate_uses(code) {
            if used == module {
                continue;
            }
            match rank.get(used.as_str()) {
                Some(&layer) if layer < own => {}
                Some(_) => broken.push(format!(
                    "{}: `{module}` uses `crate::{used}`, which is not below it",
                    file.display()
                )),
                None => broken.push(format!(
                    "{}: `{module}` uses `crate::{used}`, which has no layer",
                    file.display()
                )),
            }
        }
        if !HTTP.contains(&module.as_str()) && code.contains("axum") {
            broken.push(format!(
                "{}: `{module}` uses axum; only {HTTP:?} know HTTP",
                file.display()
            ));
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn the_import_reader_sees_groups_and_paths() {
    let uses = crate_uses(
        "use crate::store::{A, B};\nuse crate::{time::now_ms, vocab::{Module, Unknown}, exec};\n\
         fn f() { crate::cache::Cache::new(); }",
    );
    let expected: BTreeSet<String> = ["store", "time", "vocab", "exec", "cache"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(uses, expected);
}
