//! The rmcp baseline of `make bench`: what a pooled server on the official Rust MCP SDK
//! reaches for `tools/call get_contacts` against the same upstream as ours.
//!
//! One tool, `get_contacts`, that GETs `/crm/objects/2026-09/contacts` (the path our
//! server calls under the default `HUBSPOT_API_VERSION`) with `limit` and `properties`
//! through ONE shared reqwest client (its connection pool, rustls on ring), and returns
//! the upstream's JSON text as the tool result. rmcp's Streamable HTTP service on axum,
//! stateless (no session) with JSON responses, so a plain POST to `/mcp` is answered the
//! way ours answers it.
//!
//! Usage: `rmcp-baseline --port PORT` (or `PORT`), upstream in `HUBSPOT_API_URL`, token in
//! `HUBSPOT_PRIVATE_APP_ACCESS_TOKEN`. Binds 127.0.0.1 only; `GET /health` answers 200.

use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::{
    session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{schemars, tool, tool_handler, tool_router, ErrorData, ServerHandler};
use std::sync::Arc;

/// `get_contacts`' arguments, as in our catalog.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct GetContacts {
    /// Number of contacts to return.
    limit: Option<u32>,
    /// Contact properties to include.
    properties: Option<Vec<String>>,
}

/// The one thing every session shares: the pooled upstream client and where it points.
struct Upstream {
    client: reqwest::Client,
    contacts_url: reqwest::Url,
    token: String,
}

#[derive(Clone)]
struct Baseline {
    upstream: Arc<Upstream>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Baseline {
    #[tool(description = "Retrieve contacts from HubSpot CRM")]
    async fn get_contacts(
        &self,
        Parameters(args): Parameters<GetContacts>,
    ) -> Result<CallToolResult, ErrorData> {
        let up = &self.upstream;
        let mut url = up.contacts_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &args.limit.unwrap_or(10).to_string());
            if let Some(properties) = &args.properties {
                query.append_pair("properties", &properties.join(","));
            }
        }
        let answer = async {
            let response = up.client.get(url).bearer_auth(&up.token).send().await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        }
        .await;
        Ok(match answer {
            Ok((status, text)) if status.is_success() => {
                CallToolResult::success(vec![ContentBlock::text(text)])
            }
            Ok((status, text)) => CallToolResult::error(vec![ContentBlock::text(format!(
                "HubSpot {status}: {text}"
            ))]),
            Err(err) => CallToolResult::error(vec![ContentBlock::text(err.to_string())]),
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Baseline {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn port() -> u16 {
    let mut args = std::env::args().skip(1);
    let flag = match args.next().as_deref() {
        Some("--port") => args.next(),
        _ => std::env::var("PORT").ok(),
    };
    flag.and_then(|p| p.parse().ok())
        .expect("usage: rmcp-baseline --port PORT (or PORT=...)")
}

#[tokio::main]
async fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("install rustls' ring provider");
    let base = std::env::var("HUBSPOT_API_URL").expect("HUBSPOT_API_URL is required");
    let contacts_url = reqwest::Url::parse(&format!(
        "{}/crm/objects/2026-09/contacts",
        base.trim_end_matches('/')
    ))
    .expect("HUBSPOT_API_URL is not a URL");
    let upstream = Arc::new(Upstream {
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("build the reqwest client"),
        contacts_url,
        token: std::env::var("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN").unwrap_or_default(),
    });
    // rmcp calls the factory for every stateless request: clone what was built once.
    let handler = Baseline {
        upstream,
        tool_router: Baseline::tool_router(),
    };
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None),
    );
    let router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port()))
        .await
        .expect("bind 127.0.0.1");
    axum::serve(listener, router).await.expect("serve");
}
