//! The MCP methods this server implements, as one enum: the dispatch in
//! [`Server::handle`](super::Server::handle), the `/mcp/<method>` paths and the access
//! log's redaction all read this one list.

use crate::mcp::jsonrpc::RpcError;
use std::str::FromStr;

/// A request method this server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `initialize` (legacy handshake).
    Initialize,
    /// `ping`.
    Ping,
    /// `server/discover` (2026-07-28).
    ServerDiscover,
    /// `tools/list`.
    ToolsList,
    /// `tools/call`.
    ToolsCall,
    /// `resources/list`.
    ResourcesList,
    /// `resources/read`.
    ResourcesRead,
    /// `resources/templates/list`.
    ResourceTemplatesList,
    /// `prompts/list`.
    PromptsList,
    /// `prompts/get`.
    PromptsGet,
}

impl Method {
    /// Every method, in the order first specified.
    pub const ALL: [Method; 10] = [
        Method::Initialize,
        Method::Ping,
        Method::ServerDiscover,
        Method::ToolsList,
        Method::ToolsCall,
        Method::ResourcesList,
        Method::ResourcesRead,
        Method::ResourceTemplatesList,
        Method::PromptsList,
        Method::PromptsGet,
    ];

    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Initialize => "initialize",
            Method::Ping => "ping",
            Method::ServerDiscover => "server/discover",
            Method::ToolsList => "tools/list",
            Method::ToolsCall => "tools/call",
            Method::ResourcesList => "resources/list",
            Method::ResourcesRead => "resources/read",
            Method::ResourceTemplatesList => "resources/templates/list",
            Method::PromptsList => "prompts/list",
            Method::PromptsGet => "prompts/get",
        }
    }

    /// The method called `name`, if this server implements it.
    pub fn named(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl FromStr for Method {
    /// -32601 naming the method.
    type Err = RpcError;

    fn from_str(name: &str) -> Result<Method, RpcError> {
        Method::named(name).ok_or_else(|| RpcError::method_not_found(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_parses_back_from_its_name() {
        for method in Method::ALL {
            assert_eq!(method.as_str().parse::<Method>(), Ok(method));
        }
        for unknown in ["", "tools", "Tools/list", "notifications/initialized"] {
            assert!(unknown.parse::<Method>().is_err(), "{unknown}");
        }
    }
}
