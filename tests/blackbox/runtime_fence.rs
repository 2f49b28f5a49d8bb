//! may's racy calls and unsafe spawns stay inside the runtime module (docs/runtime.md).
//! clippy.toml refuses them everywhere and `src/runtime/mod.rs` lifts the refusal item by item;
//! these tests keep that fence whole: nothing else lifts it, clippy.toml and the docs name
//! the same calls, every refused path exists in may (clippy only warns about a path it
//! cannot resolve, a warning `-D warnings` leaves a warning), and outside the runtime
//! module the source names only may's safe paths, so `cargo test` catches a new
//! `may::go!` even where clippy is not run.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The runtime module: the one file that may lift clippy's refusal.
const RUNTIME: &str = "src/runtime/mod.rs";

/// What code outside the runtime module may name of may: channels without a timeout, the
/// patched socket wait, and the spawn's handle (docs/runtime.md says why each is safe).
const SAFE_PATHS: &[&str] = &[
    "may::sync::mpsc::channel",
    "may::sync::mpsc::Sender",
    "may::sync::mpsc::Receiver",
    "may::io::WaitIo",
    "may::io::WaitIoWaker",
    "may::coroutine::is_coroutine",
    "may::coroutine::JoinHandle",
];

/// The lints clippy.toml configures; lifting one (or a group holding it) opens the fence.
const FENCE_LINTS: &[&str] = &[
    "disallowed_macros",
    "disallowed_methods",
    "disallowed_types",
    "clippy::style",
    "clippy::all",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    fs::read_to_string(root().join(relative)).unwrap_or_else(|err| panic!("{relative}: {err}"))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` with comments and the insides of string literals blanked out, line breaks kept
/// (so line numbers still match): what the compiler reads as code.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            rest[..end].chars().for_each(|c| blank(&mut out, c));
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            rest[..end].chars().for_each(|c| blank(&mut out, c));
            i += end;
        } else if rest.starts_with("'\"'") {
            out.push_str("' '");
            i += 3;
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let open = hashes + 2;
            let end = rest[open..]
                .find(&close)
                .map_or(rest.len(), |e| open + e + close.len());
            out.push_str(&rest[..open]);
            rest[open..end].chars().for_each(|c| blank(&mut out, c));
            i += end;
        } else if rest.starts_with('"') {
            // The closing quote's index in `rest`; an unterminated string runs to the end.
            let mut close = rest.len();
            let mut chars = rest.char_indices().skip(1);
            while let Some((at, c)) = chars.next() {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    close = at;
                    break;
                }
            }
            out.push('"');
            rest[1..close].chars().for_each(|c| blank(&mut out, c));
            out.push('"');
            i = (i + close + 1).min(bytes.len());
        } else {
            let c = rest.chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `Some(n)` when `text` opens a raw string `r#..#"` with n hashes.
fn raw_string_start(text: &str) -> Option<usize> {
    let after = text.strip_prefix('r')?;
    let hashes = after.len() - after.trim_start_matches('#').len();
    after[hashes..].starts_with('"').then_some(hashes)
}

/// The `may::` paths named in `code`, with their line numbers (1-based); a grouped
/// `use may::io::{A, B}` gives `may::io::A` and `may::io::B`.
fn may_paths(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in code.lines().enumerate() {
        for (at, _) in line.match_indices("may::") {
            if line[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                continue; // `may_minihttp::`, `gamay::`
            }
            let rest = &line[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let path = rest[..end].trim_end_matches(':');
            match rest[end..]
                .strip_prefix('{')
                .filter(|_| rest[..end].ends_with("::"))
            {
                Some(group) => {
                    let group = &group[..group.find('}').unwrap_or(group.len())];
                    for item in group.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                        out.push((number + 1, format!("{path}::{item}")));
                    }
                }
                None => out.push((number + 1, path.to_string())),
            }
        }
    }
    out
}

/// The `path = "..."` entries of clippy.toml.
fn refused_paths() -> BTreeSet<String> {
    read("clippy.toml")
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let rest = &line[line.find("path = \"")? + "path = \"".len()..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

/// The first cell of each row of docs/runtime.md's table of racy calls.
fn documented_paths() -> BTreeSet<String> {
    read("docs/runtime.md")
        .lines()
        .filter_map(|line| {
            let cell = line.strip_prefix("| `may::")?;
            Some(format!("may::{}", &cell[..cell.find('`')?]))
        })
        .collect()
}

/// Every `.rs` file of src/ with its path relative to the crate and its code.
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    files
        .iter()
        .map(|file| {
            let relative = file
                .strip_prefix(root())
                .expect("under the crate")
                .to_string_lossy()
                .into_owned();
            let code = code_only(&fs::read_to_string(file).expect("read source"));
            (relative, code)
        })
        .collect()
}

#[test]
fn clippy_refuses_exactly_the_calls_the_docs_list() {
    let refused = refused_paths();
    let documented = documented_paths();
    assert!(
        refused.contains("may::go") && refused.contains("may::net::TcpStream"),
        "clippy.toml refuses: {refused:?}"
    );
    let undocumented: Vec<_> = refused.difference(&documented).collect();
    let unrefused: Vec<_> = documented.difference(&refused).collect();
    assert!(
        undocumented.is_empty() && unrefused.is_empty(),
        "clippy.toml and docs/runtime.md's table disagree: refused but not documented \
         {undocumented:?}; documented but not refused {unrefused:?}"
    );
}

#[test]
fn every_refused_path_names_an_item_of_may() {
    let mut files = Vec::new();
    rust_files(&root().join("vendor/may/src"), &mut files);
    let may: String = files
        .iter()
        .map(|f| fs::read_to_string(f).expect("read may"))
        .collect();
    let defined = |name: &str| {
        ["fn ", "struct ", "trait ", "enum ", "macro_rules! "]
            .iter()
            .any(|kind| {
                may.match_indices(&format!("{kind}{name}")).any(|(at, m)| {
                    !may[at + m.len()..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                })
            })
    };
    let missing: Vec<_> = refused_paths()
        .into_iter()
        .filter(|path| {
            // `may::a::Type::method` needs both `Type` and `method`; `may::a::item` its item.
            let segments: Vec<&str> = path.split("::").collect();
            let last = segments[segments.len() - 1];
            let owner = segments[segments.len() - 2];
            let owner_is_type = owner.starts_with(|c: char| c.is_ascii_uppercase());
            !defined(last) || (owner_is_type && !defined(owner))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "clippy.toml names paths that are not in vendor/may (clippy would skip them with \
         only a warning): {missing:?}"
    );
    assert!(!defined("no_such_item_in_may"));
}

#[test]
fn only_the_runtime_module_lifts_the_refusal() {
    let mut lifted = Vec::new();
    let mut runtime_lifts = 0;
    for (file, code) in sources() {
        for (number, line) in code.lines().enumerate() {
            for lint in FENCE_LINTS.iter().filter(|lint| line.contains(*lint)) {
                if file == RUNTIME && lint.starts_with("disallowed_") {
                    runtime_lifts += 1;
                } else {
                    lifted.push(format!("{file}:{}: {lint}", number + 1));
                }
            }
        }
    }
    let manifest = read("Cargo.toml");
    for lint in FENCE_LINTS.iter().filter(|lint| manifest.contains(*lint)) {
        lifted.push(format!("Cargo.toml: {lint}"));
    }
    assert!(
        runtime_lifts > 0,
        "{RUNTIME} lifts nothing: the scan is blind"
    );
    assert!(
        lifted.is_empty(),
        "only {RUNTIME} may allow clippy's refusal of may's racy calls (docs/runtime.md); \
         found:\n{}",
        lifted.join("\n")
    );
}

#[test]
fn outside_the_runtime_may_is_used_only_through_its_safe_paths() {
    let mut seen = 0;
    let mut unsafe_uses = Vec::new();
    for (file, code) in sources() {
        if file == RUNTIME {
            continue;
        }
        for (line, path) in may_paths(&code) {
            seen += 1;
            if !SAFE_PATHS.contains(&path.as_str()) {
                unsafe_uses.push(format!("{file}:{line}: {path}"));
            }
        }
    }
    assert!(
        seen > 0,
        "no may path found outside {RUNTIME}: the scan is blind"
    );
    assert!(
        unsafe_uses.is_empty(),
        "outside {RUNTIME}, may is used only through {SAFE_PATHS:?} (docs/runtime.md: \
         spawn with crate::runtime::spawn, sleep with crate::runtime::timer, sockets are \
         crate::runtime::Stream); found:\n{}",
        unsafe_uses.join("\n")
    );
}

#[test]
fn the_scan_sees_code_and_skips_comments_and_strings() {
    let code = code_only(
        "// may::go!(x)\nlet a = \"may::coroutine::sleep\"; may::go!(|| ());\n\
         /* may::net::TcpStream */ use may::io::{WaitIo, CoIo};\nlet q = '\"'; may_minihttp::x; \
         r#\"may::x\"#; may::coroutine::spawn(f);",
    );
    assert_eq!(
        may_paths(&code),
        [
            (2, "may::go".to_string()),
            (3, "may::io::WaitIo".to_string()),
            (3, "may::io::CoIo".to_string()),
            (4, "may::coroutine::spawn".to_string()),
        ]
    );
    assert_eq!(code.lines().count(), 4);
}
