//! Turns an integrated account's credentials into a HubSpot client: a private app token
//! talks to `HUBSPOT_API_URL`, a mock account to the embedded mock HubSpot.

use crate::hubspot::{ApiVersion, CallPolicy, Client};
use crate::pool::BlockingPool;
use crate::registry::AccountAuth;
use std::sync::Arc;
use std::time::Duration;

/// What every account's client shares.
pub struct Connector {
    /// `HUBSPOT_API_URL`.
    pub api_url: String,
    /// The embedded mock's URL, when the server runs one.
    pub mock_url: Option<String>,
    /// The per-call timeout.
    pub timeout: Duration,
    /// How calls are paced and retried (each account has its own rate limiter).
    pub policy: CallPolicy,
    /// The blocking pool the calls run on.
    pub pool: Arc<BlockingPool>,
    /// `HUBSPOT_API_VERSION`: the HubSpot paths every client calls.
    pub api_version: ApiVersion,
}

/// The placeholder token sent to the mock HubSpot (which only checks that one is sent).
const MOCK_TOKEN: &str = "mock-token";

impl Connector {
    /// The client for an account, or why there is none.
    pub fn client(&self, auth: &AccountAuth) -> Result<Client, String> {
        let client = match auth {
            AccountAuth::Token(token) => Client::new(&self.api_url, token, self.timeout, self.pool.clone()),
            AccountAuth::Mock => match &self.mock_url {
                Some(url) => Client::new(url, MOCK_TOKEN, self.timeout, self.pool.clone()),
                None => return Err("this account uses the mock HubSpot, but the server was started without HUBSPOT_MOCK".into()),
            },
        };
        Ok(client
            .with_policy(self.policy)
            .with_api_version(self.api_version))
    }
}
