//! Test support: README sections rendered from code (the scope table, the API version table)
//! are compared with README.md, or rewritten with `UPDATE_README=1`, so they cannot drift.

use std::sync::Mutex;

/// Serialises rewrites of README.md by tests of this binary, which run in parallel.
static README: Mutex<()> = Mutex::new(());

/// Checks that README.md holds `rendered` between the lines `begin` and `end` (or writes it
/// there when `UPDATE_README` is set); `rerun` is the command that regenerates it.
pub fn sync_section(begin: &str, end: &str, rendered: &str, rerun: &str) {
    let _one_at_a_time = README.lock().unwrap_or_else(|e| e.into_inner());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme
        .find(begin)
        .unwrap_or_else(|| panic!("README has no {begin}"))
        + begin.len();
    let stop = readme
        .find(end)
        .unwrap_or_else(|| panic!("README has no {end}"));
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{rendered}{}", &readme[..start], &readme[stop..]);
        std::fs::write(path, updated).unwrap();
    } else {
        assert_eq!(
            readme[start..stop],
            *rendered,
            "README is stale between {begin:?} and {end:?}: run UPDATE_README=1 {rerun}"
        );
    }
}
