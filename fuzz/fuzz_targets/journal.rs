//! The journal reader under arbitrary file contents: no panic; the records it returns come
//! from the first `len` bytes, which read back alone give the same records and length (the
//! file cut there after a torn append reopens as it was read); a refusal names a line of
//! the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/registry/journal.rs"]
#[allow(dead_code)]
mod journal;

use journal::JournalError;

fuzz_target!(|data: &[u8]| {
    match journal::decode(data) {
        Ok((records, len)) => {
            let len = usize::try_from(len).expect("a length");
            assert!(len <= data.len());
            assert!(len == 0 || data[len - 1] == b'\n', "whole lines only");
            let (again, len_again) = journal::decode(&data[..len]).expect("the kept part reads");
            assert_eq!((again, len_again), (records, len as u64));
        }
        Err(JournalError::Corrupt { line, .. }) => {
            let lines = data.split_inclusive(|&b| b == b'\n').count();
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
        }
        Err(JournalError::Io(..)) => panic!("decoding does no I/O"),
    }
});
