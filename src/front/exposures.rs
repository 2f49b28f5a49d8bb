//! The exposures (tool lists with their prebuilt `tools/list` pages) of scoped servers,
//! built once per filter and shared: servers with equal configs share one, an unfiltered
//! server reuses `/mcp`'s. The cache holds at most [`CAPACITY`] exposures (least recently
//! used first out) and drops the ones no live server uses whenever the registry changed,
//! so minting and deleting servers leaves memory where it was.

use crate::mcp::Exposure;
use crate::registry::{Registry, ToolFilter};
use std::sync::{Arc, Mutex};

/// The most exposures kept. Each holds its serialized `tools/list` pages (up to a few
/// hundred KiB for the whole catalog), so this bounds the cache to a few tens of MiB.
pub const CAPACITY: usize = 64;

struct Entry {
    filter: ToolFilter,
    exposure: Arc<Exposure>,
    last_used: u64,
}

#[derive(Default)]
struct Entries {
    list: Vec<Entry>,
    /// Bumped on every lookup; orders entries by last use.
    clock: u64,
    /// The registry generation the list was last pruned at.
    pruned_at: u64,
}

/// Scoped servers' exposures by filter.
pub struct ExposureCache {
    /// `/mcp`'s exposure: every tool, listed as `TOOL_EXPOSURE` says.
    unfiltered: Arc<Exposure>,
    entries: Mutex<Entries>,
}

impl ExposureCache {
    /// An empty cache; `unfiltered` serves filters that restrict nothing and list tools
    /// the same way, and its settings are every exposure's.
    pub fn new(unfiltered: Arc<Exposure>) -> ExposureCache {
        ExposureCache {
            unfiltered,
            entries: Mutex::default(),
        }
    }

    /// `/mcp`'s exposure.
    pub fn unfiltered(&self) -> &Arc<Exposure> {
        &self.unfiltered
    }

    /// The exposure of `filter`, built on first use. Prunes first when the registry
    /// changed since the last look.
    pub fn get(&self, filter: &ToolFilter, registry: &Registry, now_ms: i64) -> Arc<Exposure> {
        if filter.is_all() && filter.tool_exposure() == self.unfiltered.mode() {
            return self.unfiltered.clone();
        }
        if let Some(found) = self.lookup(filter, registry, now_ms) {
            return found;
        }
        // Built outside the lock: it serializes the tool list (a millisecond or so).
        let settings = self.unfiltered.settings();
        let exposure = Arc::new(Exposure::new(settings, filter.tool_exposure(), |tool| {
            filter.allows(tool.method, tool.tags)
        }));
        let mut entries = self.lock();
        entries.clock += 1;
        let last_used = entries.clock;
        if let Some(raced) = entries.list.iter().find(|e| e.filter == *filter) {
            return raced.exposure.clone();
        }
        if entries.list.len() >= CAPACITY {
            if let Some(oldest) = (0..entries.list.len()).min_by_key(|&i| entries.list[i].last_used)
            {
                entries.list.swap_remove(oldest);
            }
        }
        entries.list.push(Entry {
            filter: filter.clone(),
            exposure: exposure.clone(),
            last_used,
        });
        exposure
    }

    /// A cached exposure for `filter`, after pruning if the registry changed.
    fn lookup(
        &self,
        filter: &ToolFilter,
        registry: &Registry,
        now_ms: i64,
    ) -> Option<Arc<Exposure>> {
        let generation = registry.generation();
        let mut entries = self.lock();
        if entries.pruned_at != generation {
            let live = registry.live_filters(now_ms);
            entries.list.retain(|e| live.contains(&e.filter));
            entries.pruned_at = generation;
        }
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.list.iter_mut().find(|e| e.filter == *filter)?;
        entry.last_used = now;
        Some(entry.exposure.clone())
    }

    /// How many exposures are cached (for tests and logs).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().list.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::discovery::ToolExposure;
    use crate::registry::store::{tests::TempDir, Store};
    use crate::registry::{AccountAuth, ADMIN_IDENTITY};
    use serde_json::json;

    const NOW: i64 = 1_705_314_600_000;

    #[test]
    fn equal_filters_share_the_unfiltered_reuses_mcp_and_deletion_prunes() {
        let dir = TempDir::new("exposures");
        let registry = Registry::open(Store::open(&dir.0).unwrap(), false).unwrap();
        let account = registry
            .ensure_default_account(AccountAuth::Mock, NOW)
            .unwrap();
        let catalog = crate::catalog::filter_view();
        let mint = |config: serde_json::Value| {
            let body = json!({"name": "x", "config": config});
            let created = registry
                .create_server(&account, &body, catalog, ADMIN_IDENTITY, "http://h", NOW)
                .unwrap();
            let token = created["token"].as_str().unwrap().to_string();
            let server = match registry.resolve_token(&token, NOW) {
                crate::registry::Resolved::Live(server) => server,
                other => panic!("{other:?}"),
            };
            (created["id"].as_str().unwrap().to_string(), server)
        };
        let cache = ExposureCache::new(Arc::new(Exposure::all(
            Default::default(),
            ToolExposure::All,
        )));
        let (_, all) = mint(json!({}));
        assert!(Arc::ptr_eq(
            &cache.get(&all.filter, &registry, NOW),
            cache.unfiltered()
        ));
        let (first, a) = mint(json!({"methods": ["read"]}));
        let (_, b) = mint(json!({"methods": ["read"]}));
        let shared = cache.get(&a.filter, &registry, NOW);
        assert!(Arc::ptr_eq(&shared, &cache.get(&b.filter, &registry, NOW)));
        assert_eq!(cache.len(), 1);
        // Deleting one of two servers that share a filter keeps it; deleting both drops it.
        registry.delete_server(&account, &first, NOW).unwrap();
        let (_, c) = mint(json!({"methods": ["list"]}));
        cache.get(&c.filter, &registry, NOW);
        assert_eq!(cache.len(), 2);
        let ids: Vec<String> = registry
            .list_servers(&account, &crate::registry::Page::first(), NOW)
            .unwrap()["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        for id in ids {
            registry.delete_server(&account, &id, NOW).unwrap();
        }
        cache.get(&all.filter, &registry, NOW);
        assert_eq!(cache.len(), 2, "the unfiltered path does not prune");
        let (_, d) = mint(json!({"tags": ["deals"]}));
        cache.get(&d.filter, &registry, NOW);
        assert_eq!(cache.len(), 1, "only the live server's filter is left");
    }
}
