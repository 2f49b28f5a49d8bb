//! The stdio transport: newline-delimited JSON-RPC on stdin and stdout (logs go to
//! stderr), the same MCP server as over HTTP, ending cleanly at end of input.
//!
//! A stdio connection is one client, so the version `initialize` agrees on is kept and
//! applied to the requests after it, as `MCP-Protocol-Version` does over HTTP.

use crate::mcp::{self, version::Headers};
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
            if let Some(version) = reply["result"]["protocolVersion"].as_str() {
                negotiated = Some(version.to_string());
            }
            serde_json::to_writer(&mut stdout, &reply)?;
            stdout.write_all(b"\n")?;
            stdout.flush()?;
        }
    }
    Ok(())
}
