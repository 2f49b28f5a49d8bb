//! Turns an integrated account's credentials into a HubSpot client: a private app token
//! talks to `HUBSPOT_API_URL`, a mock account to the embedded mock HubSpot.

use crate::hubspot::{Client, Settings};
use crate::registry::AccountAuth;
use crate::runtime::pool::BlockingPool;
use std::sync::Arc;

/// What every account's client shares.
pub struct Connector {
    /// `HUBSPOT_API_URL`.
    pub api_url: String,
    /// The embedded mock's URL, when the server runs one.
    pub mock_url: Option<String>,
    /// The blocking pool the calls run on.
    pub pool: Arc<BlockingPool>,
    /// Timeout, pacing, API version and answer size limit of every client.
    pub settings: Settings,
}

/// The placeholder token sent to the mock HubSpot (which only checks that one is sent).
const MOCK_TOKEN: &str = "mock-token";

impl Connector {
    /// The client for an account, or why there is none.
    pub fn client(&self, auth: &AccountAuth) -> Result<Client, String> {
        let (url, token) = match auth {
            AccountAuth::Token(token) => (self.api_url.as_str(), token.as_str()),
            AccountAuth::Mock => match &self.mock_url {
                Some(url) => (url.as_str(), MOCK_TOKEN),
                None => return Err("this account uses the mock HubSpot, but the server was started without HUBSPOT_MOCK".into()),
            },
        };
        Ok(Client::new(url, token, self.pool.clone(), &self.settings))
    }
}
