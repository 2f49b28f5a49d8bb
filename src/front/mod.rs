//! The server's front: which server answers a request (the full server, a scoped server,
//! the admin API) and whether its caller may, and the process's settings. Routes
//! (`app`), credentials (`auth`, and the guessing brake in `throttle`), the admin API
//! (`admin`), each scoped server's tool list (`exposures`), each account's HubSpot client
//! (`accounts`) and the settings read once at start (`config`). The rule: nothing here
//! waits on a pool before a tool runs (a token lookup is one SHA-256 and one map lookup in
//! memory), and keys and tokens never reach a log or a response.

pub mod accounts;
pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod exposures;
pub mod throttle;
