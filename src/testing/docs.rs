//! Test support for the documentation. Sections rendered from code (README's tool list, the
//! HubSpot API version table in docs/hubspot.md) are compared with the Markdown file that
//! holds them, or rewritten with `UPDATE_DOCS=1`, so they cannot drift; and every relative
//! link between README.md, ARCHITECTURE.md and docs/ must lead to a file and heading that
//! exist, so moving a section cannot leave a reader at a dead end.

use std::sync::Mutex;

/// Serialises rewrites of the documentation by tests of this binary, which run in parallel.
static DOCS: Mutex<()> = Mutex::new(());

/// Checks that `file` (a path from the repository root) holds `rendered` between the lines
/// `begin` and `end` (or writes it there when `UPDATE_DOCS` is set); `rerun` is the command
/// that regenerates it.
pub fn sync_section(file: &str, begin: &str, end: &str, rendered: &str, rerun: &str) {
    let _one_at_a_time = DOCS.lock().unwrap_or_else(|e| e.into_inner());
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = text
        .find(begin)
        .unwrap_or_else(|| panic!("{file} has no {begin}"))
        + begin.len();
    let stop = text
        .find(end)
        .unwrap_or_else(|| panic!("{file} has no {end}"));
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{rendered}{}", &text[..start], &text[stop..]);
        std::fs::write(&path, updated).unwrap();
    } else {
        assert_eq!(
            text[start..stop],
            *rendered,
            "{file} is stale between {begin:?} and {end:?}: run UPDATE_DOCS=1 {rerun}"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    /// The Markdown a reader moves between: README.md, ARCHITECTURE.md and docs/*.md.
    fn documents() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
        for entry in std::fs::read_dir(root.join("docs")).expect("docs/ exists") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
        files
    }

    /// The lines of `text` outside fenced code blocks, with inline code spans blanked, so
    /// a `[x](y)` or a `#` shown as code is neither a link nor a heading.
    fn prose(text: &str) -> Vec<String> {
        let mut fenced = false;
        let mut lines = Vec::new();
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if fenced {
                continue;
            }
            let spans = line.split('`').enumerate();
            lines.push(spans.filter(|(i, _)| i % 2 == 0).map(|(_, s)| s).collect());
        }
        lines
    }

    /// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
    fn slug(heading: &str) -> String {
        heading
            .trim()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_lowercase().next()?),
                _ => None,
            })
            .collect()
    }

    /// The anchors of a document's headings (a repeated heading gets `-1`, `-2`, ...). The
    /// code spans of a heading count here (`## Performance (`make bench`)`), so the raw line
    /// is used, outside fences only.
    fn anchors(text: &str) -> Vec<String> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut fenced = false;
        let mut anchors = Vec::new();
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
            }
            let Some(heading) = line.strip_prefix('#').filter(|_| !fenced) else {
                continue;
            };
            let base = slug(heading.trim_start_matches('#'));
            let n = seen.entry(base.clone()).or_default();
            anchors.push(if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            });
            *n += 1;
        }
        anchors
    }

    /// The targets of the inline links `[text](target)` in a document's prose.
    fn links(text: &str) -> Vec<String> {
        let mut targets = Vec::new();
        for line in prose(text) {
            let mut rest = line.as_str();
            while let Some(at) = rest.find("](") {
                rest = &rest[at + 2..];
                if let Some(end) = rest.find(')') {
                    targets.push(rest[..end].to_string());
                    rest = &rest[end..];
                }
            }
        }
        targets
    }

    #[test]
    fn every_relative_link_leads_to_a_file_and_heading_that_exist() {
        let mut broken = Vec::new();
        let mut checked = 0;
        for doc in documents() {
            let text = std::fs::read_to_string(&doc).unwrap();
            for target in links(&text) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let dest = if file.is_empty() {
                    doc.clone()
                } else {
                    doc.parent().unwrap().join(file)
                };
                if !dest.exists() {
                    broken.push(format!("{}: {target} (no such file)", doc.display()));
                    continue;
                }
                if anchor.is_empty() || dest.extension().is_none_or(|e| e != "md") {
                    continue;
                }
                let dest_text = std::fs::read_to_string(&dest).unwrap();
                if !anchors(&dest_text).iter().any(|a| a == anchor) {
                    broken.push(format!("{}: {target} (no such heading)", doc.display()));
                }
            }
        }
        assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
        assert!(checked > 50, "the scan found the links ({checked})");
    }

    #[test]
    fn the_link_check_reads_headings_and_links_as_github_does() {
        let doc = "# Quick start\n## Performance (`make bench`)\n```\n# not a heading\n```\n\
                   ## Quick start\nSee [a](b.md#c) and `[code](not-a-link)`.\n";
        assert_eq!(
            anchors(doc),
            ["quick-start", "performance-make-bench", "quick-start-1"]
        );
        assert_eq!(links(doc), ["b.md#c"]);
        assert_eq!(
            slug(" Scoped MCP servers (Truto-compatible admin API)"),
            "scoped-mcp-servers-truto-compatible-admin-api"
        );
    }

    /// README is what a newcomer reads first; the rest lives in docs/ (it once held 130 KB).
    #[test]
    fn readme_stays_short() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.len() <= 25 * 1024,
            "README.md is {} bytes; move detail to docs/ (at most 25 KiB)",
            readme.len()
        );
    }
}
