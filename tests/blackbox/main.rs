//! The black-box tests, one binary: each module starts the built server (or a fake
//! upstream, an etcd cluster, a proxy) on 127.0.0.1 and drives it over real HTTP the way a
//! client, or an attacker, would. `common` is the harness. Run one suite with
//! `cargo test --test blackbox auth::`.

mod common;

mod auth;
mod catalog;
mod cluster;
mod discovery;
mod etcd_proxy;
mod etcd_tls;
mod http_layer;
mod hubspot_transport;
mod jsonrpc_errors;
mod lifecycle;
mod mcp_modern;
mod module_cycles;
mod registry_journal;
mod runtime_fence;
mod scoped_servers;
mod specified_examples;
mod stdio;
mod tls;
mod upstream;
