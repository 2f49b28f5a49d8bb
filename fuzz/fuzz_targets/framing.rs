//! Request framing under arbitrary bytes: no panic, never more bytes held than the bound
//! while a request is incomplete, and the same outcome whatever the split of the input
//! into reads. The first byte picks the split points; the rest is the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/http/framing.rs"]
#[allow(dead_code)]
mod framing;

use framing::{Frame, Framer, MAX_HEADER_BYTES};

const MAX_BODY: usize = 4096;

/// Frames `input` fed in pieces of `step` bytes (0: all at once); the outcome with the
/// decoded body of a complete request.
fn frame(input: &[u8], step: usize) -> (Frame, Vec<u8>) {
    let mut framer = Framer::new(MAX_BODY);
    let mut buf = Vec::new();
    let step = if step == 0 { input.len().max(1) } else { step };
    let mut at = 0;
    loop {
        let end = (at + step).min(input.len());
        buf.extend_from_slice(&input[at..end]);
        at = end;
        match framer.advance(&mut buf) {
            Frame::Partial { .. } if at < input.len() => {
                assert!(buf.len() <= 2 * (MAX_HEADER_BYTES + 2) + 2 * MAX_BODY);
            }
            Frame::Complete { head, consumed, body } => {
                assert!(head.len <= body.start && body.end <= consumed && consumed <= buf.len());
                assert!(body.len() <= MAX_BODY);
                let decoded = buf[body.clone()].to_vec();
                return (Frame::Complete { head, consumed, body }, decoded);
            }
            outcome => return (outcome, Vec::new()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let whole = frame(input, 0);
    let split = frame(input, usize::from(step % 16));
    // A request complete in one go is complete, the same, in pieces.
    if let (Frame::Complete { .. }, _) = &whole {
        assert_eq!(whole, split);
    }
});
