//! The stdio transport: newline-delimited JSON-RPC on stdin and stdout (logs go to
//! stderr), the same MCP server as over HTTP, ending cleanly at end of input.
//!
//! A stdio connection is one client, so the version `initialize` agrees on is kept and
//! applied to the requests after it, as `MCP-Protocol-Version` does over HTTP.
//!
//! A line is held in memory only up to `MAX_REQUEST_SIZE` bytes, as an HTTP body is: a
//! longer one is skipped to its end without being kept and answered with an error.

use crate::mcp::jsonrpc::{self, RpcError};
use crate::mcp::{self, version::Headers};
use serde_json::Value;
use std::io::{self, BufRead, Read, Write};

/// Answers each line of stdin on stdout until stdin ends; lines longer than `max_line`
/// bytes get an error.
pub fn run(server: &mcp::Server, max_line: usize) -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut negotiated: Option<String> = None;
    let mut line = Vec::new();
    while read_line(&mut stdin, &mut line, max_line)? {
        if line.len() > max_line {
            let err = RpcError::invalid_request(format!(
                "the line is longer than {max_line} bytes (MAX_REQUEST_SIZE); send smaller messages"
            ));
            let mut reply = Vec::new();
            jsonrpc::write_failure(&mut reply, None, &err);
            log::warn!("stdio line longer than {max_line} bytes refused");
            reply.push(b'\n');
            stdout.write_all(&reply)?;
            stdout.flush()?;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut methods = Vec::new();
        let reply = mcp::exchange(
            server,
            &line,
            None,
            Headers {
                protocol_version: negotiated.as_deref(),
                ..Headers::default()
            },
            &mut methods,
        );
        log::info!("stdio rpc={}", methods.join(","));
        if let Some((_, reply)) = reply {
            if methods.iter().any(|m| m == "initialize") {
                negotiated = agreed_version(&reply).or(negotiated);
            }
            stdout.write_all(&reply)?;
            stdout.write_all(b"\n")?;
            stdout.flush()?;
        }
    }
    Ok(())
}

/// Reads the next line (without its newline) into `line`, keeping at most `max + 1`
/// bytes of it (so an overlong line shows as longer than `max`) and skipping the rest.
/// False at the end of input.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    line.clear();
    let kept = input.take(max as u64 + 1).read_until(b'\n', line)?;
    if kept == 0 {
        return Ok(false);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > max {
        // Skip what is left of the line without keeping it.
        let mut rest = Vec::new();
        while input
            .by_ref()
            .take(64 * 1024)
            .read_until(b'\n', &mut rest)?
            > 0
        {
            if rest.last() == Some(&b'\n') {
                break;
            }
            rest.clear();
        }
    }
    Ok(true)
}

/// The `protocolVersion` of an `initialize` reply (none for an error or a batch).
fn agreed_version(reply: &[u8]) -> Option<String> {
    let reply: Value = serde_json::from_slice(reply).ok()?;
    reply["result"]["protocolVersion"]
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_up_to_the_limit_and_the_rest_skipped() {
        let text = format!("{{}}\r\n{}\nshort\nlast", "x".repeat(100));
        let mut input = io::Cursor::new(text.into_bytes());
        let mut line = Vec::new();
        let mut lines = Vec::new();
        while read_line(&mut input, &mut line, 10).unwrap() {
            lines.push(String::from_utf8(line.clone()).unwrap());
        }
        assert_eq!(lines, ["{}\r", "xxxxxxxxxxx", "short", "last"]);
    }
}
