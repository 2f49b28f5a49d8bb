//! A durable JSON file in the data directory, and a journal of changes beside it: the
//! registry's storage on one box.
//!
//! One value lives in `<dir>/registry.json` (the snapshot). A save writes `registry.json.tmp`
//! (mode 0600), fsyncs it, renames it over `registry.json`, fsyncs the directory and then
//! empties the journal, so a crash (even `kill -9` or a power cut) at any moment leaves either
//! the old file or the new one, never a torn one. A file that does not parse is reported and
//! never overwritten. Changes in between go to `<dir>/registry.json.journal`
//! ([`crate::registry::journal`]): [`Store::append`] adds one record and fdatasyncs it, so a change costs
//! the same however large the snapshot is; [`Store::replay`] hands the records back at start.
//! An exclusive lock (`File::try_lock`, a `flock`) on `<dir>/registry.lock`, held for the life
//! of the [`Store`], refuses a second process on the same directory instead of letting the two
//! race.
//!
//! The data directory is not trusted blindly: one writable by group or others is refused
//! ([`StoreError::Exposed`]), and every file in it is opened without following a symbolic
//! link (`O_NOFOLLOW`), so a link planted there cannot redirect a read or a write.
//!
//! The store knows nothing about accounts or servers: it keeps one `serde_json::Value` and
//! the records its owner appends, and says when the journal has outgrown the snapshot.

use crate::registry::journal::{Journal, JournalError};
use serde_json::Value;
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The registry file's name inside the data directory.
pub const FILE_NAME: &str = "registry.json";
/// The temporary file a save writes before renaming it over [`FILE_NAME`].
pub const TMP_NAME: &str = "registry.json.tmp";
/// The journal of changes made since the snapshot was written.
pub const JOURNAL_NAME: &str = "registry.json.journal";
/// The journal is folded into a new snapshot once it is larger than the snapshot and than
/// this many bytes: a write pays for rewriting the snapshot only after at least as many
/// bytes of changes, so the rewrite's cost is spread over them.
pub const COMPACT_MIN_BYTES: u64 = 1 << 20;
/// While the snapshot and the journal together are at most this many bytes (a registry of
/// a few dozen servers), every change also rewrites the snapshot: a bounded cost that keeps
/// a small registry's `registry.json` complete on its own.
pub const WRITE_THROUGH_BYTES: u64 = 16 << 10;
/// The lock file that keeps a second process out of the data directory.
pub const LOCK_NAME: &str = "registry.lock";
/// The key that seals secrets inside the registry file (32 random bytes, mode 0600).
pub const KEY_NAME: &str = "registry.key";

/// Why the store could not open, read or write its file. The messages name the path and
/// say what to do; they never contain the file's contents.
#[derive(Debug)]
pub enum StoreError {
    /// An I/O operation failed: `action` says what was being done to `path`.
    Io {
        /// What was being done (`create data directory`, `write`, `rename`, ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Another process holds the data directory's lock.
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The holder's pid, when the lock file names one.
        pid: Option<u32>,
    },
    /// The data directory is writable by group or others.
    Exposed {
        /// The data directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The registry file exists but is not usable; it has been left untouched.
    Corrupt {
        /// The registry file.
        path: PathBuf,
        /// What is wrong with it (a parse error with line and column, or a shape error).
        detail: String,
    },
}

impl StoreError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io {
                action,
                path,
                source,
            } => {
                write!(f, "cannot {action} {}: {source}", path.display())?;
                if source.raw_os_error() == Some(libc::ELOOP) {
                    write!(
                        f,
                        " (it is a symbolic link, which the data directory may not hold: replace it with the file itself)"
                    )?;
                }
                Ok(())
            }
            StoreError::Exposed { dir, mode } => write!(
                f,
                "data directory {} is writable by group or others (mode {mode:04o}): whoever else can write there could replace the registry's files; make it private (chmod 700 {}) and start again",
                dir.display(),
                dir.display()
            ),
            StoreError::Locked { dir, pid } => {
                write!(
                    f,
                    "data directory {} is in use by another hubspot-mcp-server process",
                    dir.display()
                )?;
                if let Some(pid) = pid {
                    write!(f, " (pid {pid})")?;
                }
                write!(
                    f,
                    " holding {}; stop it or choose another DATA_DIR",
                    dir.join(LOCK_NAME).display()
                )
            }
            StoreError::Corrupt { path, detail } => write!(
                f,
                "registry file {} is not readable ({detail}); it was left untouched: \
                 repair it or move it away, then start again",
                path.display()
            ),
        }
    }
}

impl StoreError {
    /// A journal error as a store error naming the journal's path.
    fn journal(path: PathBuf, err: JournalError) -> StoreError {
        match err {
            JournalError::Io(action, source) => StoreError::Io {
                action,
                path,
                source,
            },
            corrupt @ JournalError::Corrupt { .. } => StoreError::Corrupt {
                path,
                detail: corrupt.to_string(),
            },
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What [`Store::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The journal's length before the record.
    before: u64,
    /// Whether the whole value must be saved now.
    pub fold: bool,
}

/// The data directory, locked for this process, its snapshot and its journal.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// Held open for the life of the store: closing it releases the lock.
    _lock: File,
    /// The journal, opened by the first replay, append or save.
    journal: Mutex<Option<Journal>>,
    /// The snapshot's size in bytes, as last read or written.
    snapshot_len: AtomicU64,
    /// The journal size below which it is only folded into a small snapshot.
    compact_min: u64,
}

impl Store {
    /// Opens `dir` (creating it with mode 0700 if missing) and takes its exclusive lock.
    /// Fails with [`StoreError::Locked`] when another process (or another `Store` in this
    /// one) has it.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::io("create data directory", dir, e))?;
        let mode = fs::metadata(dir)
            .map_err(|e| StoreError::io("read the permissions of", dir, e))?
            .permissions()
            .mode();
        if mode & 0o022 != 0 {
            return Err(StoreError::Exposed {
                dir: dir.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
        let lock_path = dir.join(LOCK_NAME);
        let mut lock = OpenOptions::new()
            .custom_flags(libc::O_NOFOLLOW)
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| StoreError::io("open lock file", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = lock.read_to_string(&mut text);
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(StoreError::io("lock", &lock_path, err))
            }
        }
        // Record who holds the lock, for the message a second process prints. Best effort.
        let _ = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| write!(lock, "{}", std::process::id()));
        Ok(Store {
            dir: dir.to_path_buf(),
            _lock: lock,
            journal: Mutex::new(None),
            snapshot_len: AtomicU64::new(0),
            compact_min: COMPACT_MIN_BYTES,
        })
    }

    /// The same store folding its journal into the snapshot from `bytes` on (tests).
    #[cfg(test)]
    pub fn with_compact_min(self, bytes: u64) -> Store {
        Store {
            compact_min: bytes,
            ..self
        }
    }

    /// The registry file's path (`<dir>/registry.json`).
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Reads the registry file: `None` when there is none yet, [`StoreError::Corrupt`] when it
    /// is not JSON (the file is not touched). A leftover temporary file from an interrupted
    /// save is ignored: the rename never happened, so the old file is the current one.
    pub fn load(&self) -> Result<Option<Value>, StoreError> {
        let path = self.path();
        let bytes = match read_nofollow(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("read", &path, e)),
        };
        self.snapshot_len
            .store(bytes.len() as u64, Ordering::Relaxed);
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path,
                detail: format!("invalid JSON: {e}"),
            })
    }

    /// The journal's path (`<dir>/registry.json.journal`).
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join(JOURNAL_NAME)
    }

    /// The records appended since the snapshot was written, oldest first. A torn last record
    /// (a crash during its append, so never acknowledged) is left out and cut off the file;
    /// any other damaged record is [`StoreError::Corrupt`], naming the line.
    pub fn replay(&self) -> Result<Vec<Value>, StoreError> {
        let mut slot = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        let (journal, records) = Journal::open(&self.journal_path())
            .map_err(|e| StoreError::journal(self.journal_path(), e))?;
        *slot = Some(journal);
        Ok(records)
    }

    /// Appends `record` to the journal and waits until it is on disk. The answer says
    /// whether the caller must now [`Store::save`] the whole value (the registry is small, or
    /// the journal has outgrown the snapshot) and how to take the record back with
    /// [`Store::take_back`] if that save fails. Callers serialise their appends.
    pub fn append(&self, record: &Value) -> Result<Appended, StoreError> {
        self.with_journal(|journal| {
            let before = journal.len();
            journal.append(record)?;
            let snapshot = self.snapshot_len.load(Ordering::Relaxed);
            let fold = snapshot + journal.len() <= WRITE_THROUGH_BYTES
                || journal.len() > snapshot.max(self.compact_min);
            Ok(Appended { before, fold })
        })
    }

    /// Cuts the record of `appended` (and any after it) off the journal again.
    pub fn take_back(&self, appended: &Appended) -> Result<(), StoreError> {
        self.with_journal(|journal| journal.truncate(appended.before))
    }

    /// Runs `f` on the journal, opening it first if needed (its records are then the
    /// caller's to have replayed).
    fn with_journal<R>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<R, JournalError>,
    ) -> Result<R, StoreError> {
        let mut slot = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        let journal = match &mut *slot {
            Some(journal) => journal,
            None => slot.insert(
                Journal::open(&self.journal_path())
                    .map(|(journal, _)| journal)
                    .map_err(|e| StoreError::journal(self.journal_path(), e))?,
            ),
        };
        f(journal).map_err(|e| StoreError::journal(self.journal_path(), e))
    }

    /// The data directory's secret key, created (32 random bytes, mode 0600, fsynced) on
    /// first use. It seals secrets kept in the registry file, so that a copy of the file
    /// alone (a backup, a support bundle) reveals none of them.
    pub fn secret_key(&self) -> Result<Vec<u8>, StoreError> {
        let path = self.dir.join(KEY_NAME);
        match read_nofollow(&path) {
            Ok(key) if key.len() == 32 => return Ok(key),
            Ok(_) => {
                return Err(StoreError::Corrupt {
                    path,
                    detail: "the key must be exactly 32 bytes; restore it from a backup".into(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("read", &path, e)),
        }
        let mut key = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).map_err(
            |_| StoreError::io("generate", &path, io::Error::other("no system randomness")),
        )?;
        let mut file = OpenOptions::new()
            .custom_flags(libc::O_NOFOLLOW)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::io("create", &path, e))?;
        file.write_all(&key)
            .and_then(|()| file.sync_all())
            .map_err(|e| StoreError::io("write", &path, e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("fsync directory", &self.dir, e))?;
        Ok(key)
    }

    /// Replaces the registry file with `value` atomically and durably: temporary file (mode
    /// 0600), fsync, rename over the old file, fsync of the directory; then empties the
    /// journal, whose records `value` must hold. On error the old file is still in place and
    /// complete; once the new one is renamed in place the save counts as done, and if the
    /// directory's fsync or emptying the journal fails after that, the journal is kept
    /// (replaying records the file already holds changes nothing, each record setting or
    /// deleting whole records).
    pub fn save(&self, value: &Value) -> Result<(), StoreError> {
        let tmp = self.dir.join(TMP_NAME);
        let path = self.path();
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| {
            StoreError::io(
                "encode",
                &path,
                io::Error::new(io::ErrorKind::InvalidData, e),
            )
        })?;
        bytes.push(b'\n');
        let mut file = OpenOptions::new()
            .custom_flags(libc::O_NOFOLLOW)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| StoreError::io("create", &tmp, e))?;
        // `mode` only applies to a new file; a leftover temporary file may have another.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::io("set permissions of", &tmp, e))?;
        file.write_all(&bytes)
            .map_err(|e| StoreError::io("write", &tmp, e))?;
        file.sync_all()
            .map_err(|e| StoreError::io("fsync", &tmp, e))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename over", &path, e))?;
        // From here on the new file is in place, so an error must not undo the change (the
        // caller would take its record back while the file already holds it): it is logged
        // and the journal, which still holds the change too, is kept.
        self.snapshot_len
            .store(bytes.len() as u64, Ordering::Relaxed);
        let emptied = File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("fsync directory", &self.dir, e))
            .and_then(|()| self.with_journal(|journal| journal.truncate(0)));
        if let Err(err) = emptied {
            log::warn!("registry: {err}; the journal is kept and replays the same records");
        }
        Ok(())
    }
}

/// The whole file at `path`, refusing to follow a symbolic link there (`ELOOP`).
fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    OpenOptions::new()
        .custom_flags(libc::O_NOFOLLOW)
        .read(true)
        .open(path)?
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A unique directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(label: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "hubspot-mcp-test-{}-{label}-{n}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&path);
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn saves_and_loads_across_reopen() {
        let tmp = TempDir::new("roundtrip");
        let dir = tmp.0.join("nested/data");
        let store = Store::open(&dir).expect("open");
        assert_eq!(mode(&dir), 0o700);
        assert!(store.load().expect("load").is_none());
        let value = json!({"version": 1, "items": [1, 2, 3]});
        store.save(&value).expect("save");
        assert_eq!(mode(&store.path()), 0o600);
        assert!(!dir.join(TMP_NAME).exists());
        drop(store);
        let store = Store::open(&dir).expect("reopen");
        assert_eq!(store.load().expect("load"), Some(value));
    }

    #[test]
    fn second_open_is_refused_until_the_first_is_dropped() {
        let tmp = TempDir::new("lock");
        let first = Store::open(&tmp.0).expect("open");
        let err = Store::open(&tmp.0).expect_err("second open must fail");
        assert!(matches!(err, StoreError::Locked { pid: Some(p), .. } if p == std::process::id()));
        let text = err.to_string();
        assert!(text.contains(&tmp.0.display().to_string()), "{text}");
        assert!(text.contains("DATA_DIR"), "{text}");
        drop(first);
        Store::open(&tmp.0).expect("open after release");
    }

    #[test]
    fn corrupt_file_is_refused_and_left_untouched() {
        let tmp = TempDir::new("corrupt");
        let store = Store::open(&tmp.0).expect("open");
        let garbage = b"{\"version\": 1, \"accounts\": [tor";
        fs::write(store.path(), garbage).expect("write garbage");
        let err = store.load().expect_err("corrupt file must fail");
        let text = err.to_string();
        assert!(text.contains(&store.path().display().to_string()), "{text}");
        assert!(text.contains("line 1"), "{text}");
        assert_eq!(fs::read(store.path()).expect("read"), garbage);
    }

    #[test]
    fn leftover_tmp_file_is_ignored_and_replaced() {
        let tmp = TempDir::new("leftover");
        let store = Store::open(&tmp.0).expect("open");
        store.save(&json!({"n": 1})).expect("save");
        // A crash between writing the temporary file and the rename leaves this behind.
        let leftover = tmp.0.join(TMP_NAME);
        fs::write(&leftover, b"{\"n\": 2, torn").expect("write");
        fs::set_permissions(&leftover, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(store.load().expect("load"), Some(json!({"n": 1})));
        store.save(&json!({"n": 3})).expect("save");
        assert_eq!(store.load().expect("load"), Some(json!({"n": 3})));
        assert_eq!(mode(&store.path()), 0o600);
    }

    #[test]
    fn a_directory_others_can_write_and_symbolic_links_in_it_are_refused() {
        let tmp = TempDir::new("exposed");
        fs::create_dir_all(&tmp.0).expect("mkdir");
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o770)).expect("chmod");
        let err = Store::open(&tmp.0).expect_err("group-writable");
        let text = err.to_string();
        assert!(
            text.contains("mode 0770") && text.contains("chmod 700"),
            "{text}"
        );
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o755)).expect("chmod");
        let store = Store::open(&tmp.0).expect("open");
        store.save(&json!({"n": 1})).expect("save");
        let elsewhere = tmp.0.join("elsewhere.json");
        fs::write(&elsewhere, b"{\"n\": 2}").expect("write");
        for name in [FILE_NAME, TMP_NAME, JOURNAL_NAME, KEY_NAME] {
            let _ = fs::remove_file(tmp.0.join(name));
            std::os::unix::fs::symlink(&elsewhere, tmp.0.join(name)).expect("symlink");
        }
        let text = store.load().expect_err("a linked snapshot").to_string();
        assert!(
            text.contains(FILE_NAME) && text.contains("symbolic link"),
            "{text}"
        );
        let text = store
            .save(&json!({"n": 3}))
            .expect_err("a linked temp file")
            .to_string();
        assert!(
            text.contains(TMP_NAME) && text.contains("symbolic link"),
            "{text}"
        );
        let text = store.replay().expect_err("a linked journal").to_string();
        assert!(
            text.contains(JOURNAL_NAME) && text.contains("symbolic link"),
            "{text}"
        );
        let text = store.secret_key().expect_err("a linked key").to_string();
        assert!(
            text.contains(KEY_NAME) && text.contains("symbolic link"),
            "{text}"
        );
        assert_eq!(
            fs::read(&elsewhere).expect("read"),
            b"{\"n\": 2}",
            "not written through"
        );
    }

    #[test]
    fn failed_save_keeps_the_old_file() {
        let tmp = TempDir::new("failsave");
        let store = Store::open(&tmp.0).expect("open");
        store.save(&json!({"n": 1})).expect("save");
        // A directory where the temporary file goes makes the write fail, even as root.
        fs::create_dir(tmp.0.join(TMP_NAME)).expect("mkdir");
        let err = store.save(&json!({"n": 2})).expect_err("save must fail");
        assert!(err.to_string().contains(TMP_NAME), "{err}");
        assert_eq!(store.load().expect("load"), Some(json!({"n": 1})));
    }
}
