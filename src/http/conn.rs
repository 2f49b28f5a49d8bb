//! The connection loop (placeholder; being written).
use super::Handler;
use std::sync::Arc;

/// Limits on what one connection may send.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted request body in bytes (413 beyond).
    pub max_body: usize,
}

/// A handle that stops the accept loop.
#[derive(Clone, Default)]
pub struct Shutdown;

/// Serves HTTP on `listener` until shut down.
pub fn serve<H: Handler>(_listener: may::net::TcpListener, _handler: Arc<H>, _limits: Limits, _shutdown: Shutdown) {
    unimplemented!()
}
