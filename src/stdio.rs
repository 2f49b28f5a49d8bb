//! The stdio transport: newline-delimited JSON-RPC on stdin and stdout (logs go to
//! stderr), the same MCP server as over HTTP, ending cleanly at end of input.
//!
//! A stdio connection is one client, so the version `initialize` agrees on is kept and
//! applied to the requests after it, as `MCP-Protocol-Version` does over HTTP.

use crate::mcp::{self, version::Headers};
use serde_json::Value;
use std::io::{self, BufRead, Write};

/// Answers each line of stdin on stdout until stdin ends.
pub fn run(server: &mcp::Server) -> io::Result<()> {
    let stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut negotiated: Option<String> = None;
    for line in stdin.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let mut methods = Vec::new();
        let reply = mcp::exchange(
            server,
            line.as_bytes(),
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

/// The `protocolVersion` of an `initialize` reply (none for an error or a batch).
fn agreed_version(reply: &[u8]) -> Option<String> {
    let reply: Value = serde_json::from_slice(reply).ok()?;
    reply["result"]["protocolVersion"]
        .as_str()
        .map(str::to_string)
}
