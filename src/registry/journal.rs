//! An append-only journal of JSON records beside a snapshot file, so that a change costs
//! one small append and one `fdatasync` however large the snapshot has grown.
//!
//! Each record is one line: the CRC-32 of the JSON text as 8 hex digits, a space, the JSON
//! text (compact, so it holds no newline) and `\n`. A record is durable once
//! [`Journal::append`] returns. At most one record is in flight at a time, so after a crash
//! (kill -9, power cut) only the **last** line can be torn: cut short before its `\n`, or
//! holding zeros where the data never reached the disk. [`Journal::open`] drops such a line,
//! since it was never acknowledged, and cuts it off the file before anything is appended.
//! Any other bad line is damage, not a crash: a whole, newline-terminated last line whose
//! checksum fails was acknowledged (a revocation, say), and a bad line with records after
//! it would take them along. Opening refuses either, naming the line, and leaves the file
//! as it is (the evidence stays).
//!
//! The journal knows nothing of what its records mean; the snapshot's owner replays them and
//! empties the journal with [`Journal::truncate`] once a new snapshot holds them.

use serde_json::Value;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Why the journal could not be read or written.
#[derive(Debug)]
pub enum JournalError {
    /// An I/O operation failed: `action` says what was being done.
    Io(&'static str, io::Error),
    /// Line `line` (1-based) is damaged, and not by a crash during its append.
    Corrupt {
        /// The damaged line.
        line: usize,
        /// What is wrong with it.
        detail: &'static str,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io(action, err) => write!(f, "cannot {action}: {err}"),
            JournalError::Corrupt { line, detail } => {
                write!(
                    f,
                    "line {line} is damaged ({detail}), not torn by a crash during its write"
                )
            }
        }
    }
}

/// The open journal file, positioned at its end.
#[derive(Debug)]
pub struct Journal {
    file: File,
    /// Bytes of whole records in the file.
    len: u64,
}

impl Journal {
    /// Opens (creating it; mode 0600 either way; never through a symbolic link) the journal
    /// at `path` and returns its records in order. A torn last line is cut off the file (and fsynced) first.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Value>), JournalError> {
        let mut file = OpenOptions::new()
            .custom_flags(libc::O_NOFOLLOW)
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| JournalError::Io("open", e))?;
        // `mode` only applies to a new file; a restored copy may have another.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| JournalError::Io("set permissions of", e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| JournalError::Io("read", e))?;
        let (records, len) = decode(&bytes)?;
        if len < bytes.len() as u64 {
            log::warn!(
                "{}: dropped its last record, cut short by a crash during its write (it was never acknowledged)",
                path.display()
            );
            file.set_len(len)
                .and_then(|()| file.sync_data())
                .map_err(|e| JournalError::Io("cut the torn last record off", e))?;
        }
        Ok((Journal { file, len }, records))
    }

    /// Appends `record` and waits until it is on disk (`fdatasync`). On error the file is
    /// cut back to its previous end, so no partial line stays in front of later records.
    pub fn append(&mut self, record: &Value) -> Result<(), JournalError> {
        let line = encode(record);
        let written = self
            .file
            .write_all(&line)
            .map_err(|e| JournalError::Io("append to", e))
            .and_then(|()| {
                self.file
                    .sync_data()
                    .map_err(|e| JournalError::Io("fdatasync", e))
            });
        match written {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(self.len);
                Err(err)
            }
        }
    }

    /// Cuts the journal (durably) back to its first `len` bytes, a length it had before an
    /// append: 0 once a new snapshot holds every record, or the length before a record whose
    /// change is being taken back.
    pub fn truncate(&mut self, len: u64) -> Result<(), JournalError> {
        self.file
            .set_len(len)
            .map_err(|e| JournalError::Io("truncate", e))?;
        // Cut, if not yet durably: the next append goes after `len`, where the file ends.
        self.len = len;
        self.file
            .sync_data()
            .map_err(|e| JournalError::Io("truncate", e))
    }

    /// The journal's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }
}

/// One record as its line.
fn encode(record: &Value) -> Vec<u8> {
    let json = record.to_string();
    format!("{:08x} {json}\n", crc32(json.as_bytes())).into_bytes()
}

/// The records of a journal file and the length of the part that holds them; only a torn
/// last line may be bad (it is left out, see [`torn`]), any other bad line is an error.
/// Public for the fuzz target (`fuzz/fuzz_targets/journal.rs`), which compiles this file.
pub fn decode(bytes: &[u8]) -> Result<(Vec<Value>, u64), JournalError> {
    let mut records = Vec::new();
    let mut good = 0usize;
    let mut lines = bytes
        .split_inclusive(|&b| b == b'\n')
        .enumerate()
        .peekable();
    while let Some((i, line)) = lines.next() {
        match parse_line(line) {
            Ok(record) => {
                records.push(record);
                good += line.len();
            }
            Err(_) if lines.peek().is_none() && torn(line) => break,
            Err(detail) => {
                return Err(JournalError::Corrupt {
                    line: i + 1,
                    detail,
                })
            }
        }
    }
    Ok((records, good as u64))
}

/// Whether a bad last line is what a crash during its append leaves: no `\n` yet, or zeros
/// where the data never reached the disk (a record's compact JSON never holds a NUL byte).
fn torn(line: &[u8]) -> bool {
    !line.ends_with(b"\n") || line.contains(&0)
}

/// One line (with its `\n`) as a record.
fn parse_line(line: &[u8]) -> Result<Value, &'static str> {
    let line = line.strip_suffix(b"\n").ok_or("cut short")?;
    let (sum, json) = match (line.get(..8), line.get(8), line.get(9..)) {
        (Some(sum), Some(b' '), Some(json)) => (sum, json),
        _ => return Err("not a checksum and a record"),
    };
    let sum = std::str::from_utf8(sum)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or("not a checksum and a record")?;
    if sum != crc32(json) {
        return Err("checksum mismatch");
    }
    serde_json::from_slice(json).map_err(|_| "not JSON")
}

/// CRC-32 (IEEE 802.3, as zlib computes it), by the `crc` crate's compile-time table.
fn crc32(bytes: &[u8]) -> u32 {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    CRC.checksum(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    fn temp(label: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hubspot-mcp-journal-{}-{label}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn records_come_back_in_order_across_reopen() {
        let dir = temp("order");
        let path = dir.join("j");
        let (mut journal, records) = Journal::open(&path).expect("open");
        assert!(records.is_empty());
        for n in 0..3 {
            journal
                .append(&json!({"n": n, "text": "a\nb"}))
                .expect("append");
        }
        let len = journal.len();
        drop(journal);
        // A restored copy with other permissions is made private again.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let (journal, records) = Journal::open(&path).expect("reopen");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(records.len(), 3);
        assert_eq!(records[2], json!({"n": 2, "text": "a\nb"}));
        assert_eq!(journal.len(), len);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_record_is_ignored_and_cut_off() {
        let dir = temp("torn");
        let path = dir.join("j");
        let (mut journal, _) = Journal::open(&path).expect("open");
        journal.append(&json!({"n": 1})).expect("append");
        let good = fs::read(&path).expect("read");
        drop(journal);
        let second = encode(&json!({"n": 2}));
        // Cut short, zeros where the data never reached the disk (all of it, or a block in
        // the middle of an otherwise whole line): each was never acknowledged.
        let mut holed = second.clone();
        holed[4..12].fill(0);
        for tail in [&second[..second.len() - 1], &[0u8; 40][..], &holed[..]] {
            fs::write(&path, [&good[..], tail].concat()).expect("write");
            let (mut journal, records) = Journal::open(&path).expect("torn tail is no error");
            assert_eq!(records, vec![json!({"n": 1})]);
            assert_eq!(fs::read(&path).expect("read"), good, "the tail was cut off");
            journal
                .append(&json!({"n": 3}))
                .expect("append after the cut");
            drop(journal);
            let (_, records) = Journal::open(&path).expect("reopen");
            assert_eq!(records, vec![json!({"n": 1}), json!({"n": 3})]);
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn damage_with_records_after_it_is_refused_and_left_alone() {
        let dir = temp("corrupt");
        let path = dir.join("j");
        let (mut journal, _) = Journal::open(&path).expect("open");
        for n in 0..3 {
            journal.append(&json!({"n": n})).expect("append");
        }
        drop(journal);
        let mut bytes = fs::read(&path).expect("read");
        let second = bytes.iter().position(|&b| b == b'\n').expect("a line") + 1;
        bytes[second + 14] ^= 0x20; // a flipped bit inside record 2's JSON
        fs::write(&path, &bytes).expect("write");
        let err = Journal::open(&path).expect_err("damage must be refused");
        assert!(
            matches!(err, JournalError::Corrupt { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("line 2"), "{err}");
        assert_eq!(fs::read(&path).expect("read"), bytes, "left untouched");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_whole_last_record_with_a_bad_checksum_is_damage_not_a_torn_append() {
        let dir = temp("bad-last");
        let path = dir.join("j");
        let (mut journal, _) = Journal::open(&path).expect("open");
        for n in 0..2 {
            journal.append(&json!({"n": n})).expect("append");
        }
        drop(journal);
        let mut bytes = fs::read(&path).expect("read");
        let last = bytes.len() - 3; // inside the last record's JSON, before its `}\n`
        bytes[last] ^= 0x01;
        fs::write(&path, &bytes).expect("write");
        let err = Journal::open(&path).expect_err("an acknowledged record is not dropped");
        assert!(
            matches!(err, JournalError::Corrupt { line: 2, .. }),
            "{err}"
        );
        assert_eq!(fs::read(&path).expect("read"), bytes, "left untouched");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn truncate_cuts_back_to_an_earlier_length() {
        let dir = temp("clear");
        let path = dir.join("j");
        let (mut journal, _) = Journal::open(&path).expect("open");
        journal.append(&json!({"n": 1})).expect("append");
        let one = journal.len();
        journal.append(&json!({"n": 2})).expect("append");
        journal.truncate(one).expect("truncate");
        journal.append(&json!({"n": 3})).expect("append");
        drop(journal);
        let (mut journal, records) = Journal::open(&path).expect("reopen");
        assert_eq!(records, vec![json!({"n": 1}), json!({"n": 3})]);
        journal.truncate(0).expect("empty");
        assert_eq!(journal.len(), 0);
        drop(journal);
        assert!(Journal::open(&path).expect("reopen").1.is_empty());
        let _ = fs::remove_dir_all(&dir);
    }
}
