//! Our HTTP/1.1 layer: a small connection loop on `may` coroutines and `httparse`,
//! in may_minihttp's style (one coroutine per connection, keep-alive, pipelining,
//! buffers reused), plus the request and response types that handlers see.
//!
//! Why not may_minihttp itself: see DESIGN.md and README ("Why our own HTTP loop").

mod conn;
mod cors;
mod request;
mod response;

pub use conn::{serve, Limits, Shutdown};
pub use cors::CorsPolicy;
pub use request::Request;
pub use response::{reason, Response};

/// Something that turns one parsed request into one response.
///
/// Called on a may coroutine: it must not block the worker thread (hand blocking
/// work to [`crate::hubspot::pool`]).
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, req: &Request) -> Response;
}
