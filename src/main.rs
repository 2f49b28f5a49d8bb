//! hubspot-mcp-server: a Model Context Protocol server for the HubSpot CRM.

mod clock;
mod http;
mod mock;
mod registry;
mod store;

fn main() {}
