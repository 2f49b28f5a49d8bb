//! The stdio transport: newline-delimited JSON-RPC on stdin and stdout (logs go to
//! stderr), the same MCP server as over HTTP, ending cleanly at end of input.

use crate::mcp::{self, version::Headers};
use std::io::{self, BufRead, Write};

/// Answers each line of stdin on stdout until stdin ends.
pub fn run(server: &mcp::Server) -> io::Result<()> {
    let stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
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
            Headers::default(),
            &mut methods,
        );
        log::info!("stdio rpc={}", methods.join(","));
        if let Some((_, reply)) = reply {
            stdout.write_all(&reply)?;
            stdout.write_all(b"\n")?;
            stdout.flush()?;
        }
    }
    Ok(())
}
