//! Replicas on one etcd registry split each HubSpot account's rate limits between them.
//!
//! Each replica registers itself at `<ETCD_PREFIX>replicas/<id>` (a random id; the value
//! says when and where it started, nothing secret) under a lease of [`TTL_S`] seconds,
//! kept alive every [`BEAT`] by its own OS thread, which also counts the keys under
//! `replicas/` and hands the count to every rate limiter ([`Replicas`]): each then paces
//! an account at limit ÷ live replicas. A replica that stops cleanly revokes its lease, so
//! the others take its share back at their next beat; one that dies stops counting when
//! its lease ends. While etcd does not answer, the last count holds (and `/ready` says it
//! is stale); a lease that ended meanwhile is granted again when etcd is back.
//!
//! Blocking: the etcd calls run on the start-up thread, the beat thread and the stopping
//! thread, never on a coroutine worker.

use crate::hubspot::ratelimit::Replicas;
use crate::registry::etcd::{self, int};
use crate::registry::token;
use crate::runtime::clock;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The lease of a replica's key: how long a replica that died keeps its share.
pub const TTL_S: i64 = 10;
/// How often the lease is kept alive and the replicas counted (a fifth of the TTL, so a
/// few failed beats in a row do not lose the lease).
const BEAT: Duration = Duration::from_secs(2);

/// This replica's registration.
pub struct Membership {
    client: etcd::Client,
    key: String,
    /// `<prefix>replicas/`: what is counted.
    dir: String,
    value: String,
    /// The lease of `key` (0: none yet, or it ended).
    lease: Mutex<i64>,
    left: AtomicBool,
    replicas: Arc<Replicas>,
}

/// Registers this replica and starts its beat thread; `replicas` is the count every rate
/// limiter of this process reads.
pub fn join(settings: &etcd::Settings, replicas: Arc<Replicas>) -> Result<Arc<Membership>, String> {
    let id = token::new_token().map_err(|e| e.to_string())?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let dir = format!("{}replicas/", settings.prefix);
    let membership = Arc::new(Membership {
        client: etcd::Client::new(settings)?,
        key: format!("{dir}{id}"),
        dir,
        value: json!({"started_at": clock::now_rfc3339(), "host": host.trim()}).to_string(),
        lease: Mutex::new(0),
        left: AtomicBool::new(false),
        replicas,
    });
    membership.beat();
    let beating = membership.clone();
    std::thread::Builder::new()
        .name("replicas".into())
        .spawn(move || {
            while !beating.left.load(Ordering::Relaxed) {
                std::thread::sleep(BEAT);
                beating.beat();
            }
        })
        .map_err(|e| format!("cannot start the replicas thread: {e}"))?;
    Ok(membership)
}

impl Membership {
    /// Keeps the lease alive (or registers again), counts the replicas, logs a change.
    fn beat(&self) {
        match self.refresh() {
            Ok(Some(live)) if self.replicas.set(live) => log::info!(
                "replicas: {live} live on etcd; each paces HubSpot at 1/{live} of the account limits"
            ),
            Ok(_) => {}
            Err(err) if self.replicas.mark_stale() => log::warn!(
                "replicas: cannot count the replicas ({err}); keeping the last count, {}",
                self.replicas.pacing()
            ),
            Err(_) => {}
        }
    }

    /// One beat's etcd calls: the live replicas (`None` once this replica left).
    fn refresh(&self) -> Result<Option<usize>, etcd::Error> {
        let mut lease = self.lease.lock().unwrap_or_else(PoisonError::into_inner);
        if self.left.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if *lease != 0 {
            let kept = self
                .client
                .call("/v3/lease/keepalive", &json!({"ID": lease.to_string()}))?;
            if int(&kept["result"]["TTL"]) <= 0 {
                log::warn!("replicas: this replica's lease ended (etcd was out of reach); registering again");
                *lease = 0;
            }
        }
        if *lease == 0 {
            let granted = self
                .client
                .call("/v3/lease/grant", &json!({"TTL": TTL_S.to_string()}))?;
            let id = int(&granted["ID"]);
            let put = json!({"key": etcd::key(&self.key), "value": crate::runtime::base64::encode(self.value.as_bytes()), "lease": id.to_string()});
            self.client.call("/v3/kv/put", &put)?;
            *lease = id;
        }
        let count = self.client.call(
            "/v3/kv/range",
            &json!({"key": etcd::key(&self.dir), "range_end": etcd::prefix_end(&self.dir), "count_only": true}),
        )?;
        Ok(Some(int(&count["count"]).max(1) as usize))
    }

    /// Leaves the cluster at a clean stop: revokes the lease (which deletes the key), so
    /// the others take this replica's share back at their next beat, not after the TTL.
    pub fn leave(&self) {
        self.left.store(true, Ordering::Relaxed);
        let mut lease = self.lease.lock().unwrap_or_else(PoisonError::into_inner);
        if *lease != 0 {
            match self
                .client
                .call("/v3/lease/revoke", &json!({"ID": lease.to_string()}))
            {
                Ok(_) => log::info!("replicas: left (lease revoked)"),
                Err(err) => log::warn!("replicas: could not leave ({err}); the others take this replica's share back within {TTL_S} s"),
            }
            *lease = 0;
        }
    }
}
