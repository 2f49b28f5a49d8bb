//! No cycle between the top-level modules of `src/`: each layer only reaches down, so a
//! reader can learn the code bottom-up and a change cannot ripple back up through a loop.
//!
//! The edges come from the source text: every `crate::<module>` path (in `use` lines,
//! grouped `use crate::{a, b}` and inline paths) and every `super::` path that climbs to
//! the crate root, outside comments. Test code counts too: a loop that only tests close is
//! still a loop a reader has to untangle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules `src/main.rs` declares (`mod app;` ...).
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let main = fs::read_to_string(src.join("main.rs")).expect("src/main.rs");
    main.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("pub ").unwrap_or(line);
            let name = line.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file (`src/http/conn.rs` is `[http, conn]`, `src/http/mod.rs` is
/// `[http]`, `src/main.rs` is `[]`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first path segments after `crate::` in `code`: `crate::http::X` gives `http`,
/// `crate::{http::X, registry::store}` gives `http` and `store`.
fn crate_targets(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `mycrate::`
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: after `{` and after each comma at depth 0.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        out.push(ident(&group[i..]).to_string());
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest).to_string());
        }
    }
    out
}

/// The first segments of `super::` paths in `code` that climb from `module` to the crate
/// root (`super::config` in `src/front/app.rs`, `super::super::store` in `src/a/b.rs`).
fn super_targets(module: &[String], code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("super::") {
            continue; // counted from the first `super::` of the chain
        }
        let mut rest = &code[at..];
        let mut climbs = 0;
        while let Some(next) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = next;
        }
        if climbs == module.len() {
            out.push(ident(rest).to_string());
        }
    }
    out
}

/// `from -> {to}` for every top-level module that names another.
fn edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = top_level_modules(src);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_path(src, &file);
        let Some(from) = module.first() else {
            continue; // main.rs wires everything together; it is the root, not a layer
        };
        let text = fs::read_to_string(&file).expect("read source");
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let targets = crate_targets(&code)
            .into_iter()
            .chain(super_targets(&module, &code));
        for to in targets {
            if &to != from && modules.contains(&to) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    edges
}

/// A cycle in `edges`, as the path that closes it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = edges(&src);
    let listing: Vec<String> = edges
        .iter()
        .map(|(from, to)| {
            format!(
                "{from} -> {}",
                to.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    // The scan sees the real edges: the server's front reaches the HTTP layer.
    assert!(
        edges.get("front").is_some_and(|to| to.contains("http")),
        "edges found:\n{}",
        listing.join("\n")
    );
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "module cycle: {}\nedges between top-level modules of src/:\n{}",
            cycle.join(" -> "),
            listing.join("\n")
        );
    }
}

#[test]
fn the_scan_finds_grouped_inline_and_super_paths_and_cycles() {
    assert_eq!(
        crate_targets(
            "use crate::{http::{Request, Response}, registry::store};\nlet x = crate::runtime::clock::now();"
        ),
        ["http", "registry", "runtime"]
    );
    assert!(crate_targets("use mycrate::x;").is_empty());
    let app = vec!["app".to_string()];
    assert_eq!(
        super_targets(&app, "use super::config::Config;"),
        ["config"]
    );
    let conn = vec!["http".to_string(), "conn".to_string()];
    assert!(super_targets(&conn, "use super::Handler;").is_empty());
    assert_eq!(super_targets(&conn, "use super::super::store;"), ["store"]);
    let graph = |pairs: &[(&str, &str)]| {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in pairs {
            edges
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
        edges
    };
    assert_eq!(
        find_cycle(&graph(&[
            ("admin", "app"),
            ("app", "http"),
            ("http", "admin")
        ])),
        Some(vec![
            "admin".into(),
            "app".into(),
            "http".into(),
            "admin".into()
        ])
    );
    assert_eq!(
        find_cycle(&graph(&[("app", "http"), ("admin", "http")])),
        None
    );
}

/// The layers of `src/`, bottom first (ARCHITECTURE.md draws them): each may reach only the
/// layers before it. `testing` is the unit tests' support, below everything.
const LAYERS: [&str; 9] = [
    "testing", "runtime", "http", "hubspot", "catalog", "mcp", "registry", "mock", "front",
];

#[test]
fn src_is_these_layers_and_each_reaches_only_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let declared = top_level_modules(&src);
    let expected: BTreeSet<String> = LAYERS.iter().map(|l| l.to_string()).collect();
    assert_eq!(
        declared, expected,
        "src/main.rs declares other top-level modules"
    );
    let rank = |layer: &str| LAYERS.iter().position(|l| *l == layer);
    for (from, targets) in edges(&src) {
        for to in targets {
            assert!(
                rank(&to) < rank(&from),
                "{from} reaches up to {to}: move the code, or the layer order in LAYERS and ARCHITECTURE.md"
            );
        }
    }
}
