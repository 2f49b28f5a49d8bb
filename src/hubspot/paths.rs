//! The one table of HubSpot API paths: every endpoint the catalog calls (and the few more
//! the mock serves), with its legacy (`v3`/`v4`) path and its path under each date version
//! this server speaks (`HUBSPOT_API_VERSION`). The client builds its paths from it, the
//! mock HubSpot routes by it, and the "HubSpot API versions" table of docs/hubspot.md is
//! rendered from it (a unit test checks that the document matches).
//!
//! HubSpot moved to date-versioned paths (`/crm/objects/2026-03/contacts`) on 2026-03-30;
//! a version is supported at least 18 months after its release. Support for `v4`
//! (associations, automation) ends on 2027-03-30 and for `v1`–`v3` in September 2027.
//! Where HubSpot documents no GA dated path for an endpoint, the row says what is used
//! instead and until when (each endpoint is versioned on its own, so one client may mix).

use super::encode;
use std::fmt;

/// Which family of HubSpot paths the server calls (`HUBSPOT_API_VERSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiVersion {
    /// `2026-09` (default): the latest, with write validation of required properties.
    #[default]
    V2026_09,
    /// `2026-03`: the first date version.
    V2026_03,
    /// `legacy`: the `v3`/`v4` paths this server used before date versions.
    Legacy,
}

impl ApiVersion {
    /// Every version, newest first.
    pub const ALL: [ApiVersion; 3] = [
        ApiVersion::V2026_09,
        ApiVersion::V2026_03,
        ApiVersion::Legacy,
    ];

    /// The allowed values, for error messages.
    pub const ALLOWED: &'static str = "2026-09 (default), 2026-03 or legacy";

    /// The version named `text`, if it is one.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        ApiVersion::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The setting's value for this version.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2026_09 => "2026-09",
            ApiVersion::V2026_03 => "2026-03",
            ApiVersion::Legacy => "legacy",
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A HubSpot endpoint, named by what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// One page of records of a type.
    ListObjects,
    /// A new record.
    CreateObject,
    /// One record.
    GetObject,
    /// Changed properties of one record.
    UpdateObject,
    /// Archive one record.
    ArchiveObject,
    /// The CRM search.
    SearchObjects,
    /// Batch read, create or update (`{op}`).
    BatchObjects,
    /// The records of one type linked to one record (served by the mock; the catalog reads
    /// links with [`Endpoint::ReadAssociations`]).
    ListAssociations,
    /// The records of one type linked to some records, a page per record.
    ReadAssociations,
    /// Link two records with the pair's default association.
    CreateDefaultAssociation,
    /// Link two records with labeled association types.
    CreateLabeledAssociation,
    /// The association types between two object types.
    AssociationLabels,
    /// The account's owners.
    ListOwners,
    /// One owner (served by the mock; the catalog does not call it).
    GetOwner,
    /// The pipelines of a type.
    ListPipelines,
    /// One pipeline (served by the mock; the catalog does not call it).
    GetPipeline,
    /// The property definitions of a type.
    ListProperties,
    /// One property definition (served by the mock; the catalog does not call it).
    GetProperty,
    /// A new property.
    CreateProperty,
    /// A changed property.
    UpdateProperty,
    /// The account's workflows.
    ListWorkflows,
    /// One workflow.
    GetWorkflow,
    /// The account's portal id, UI domain, time zone and currency.
    AccountDetails,
    /// The token's hub, user, app and scopes.
    TokenInfo,
}

/// One endpoint's paths. Placeholders (`{type}`, `{id}`, ...) are filled in order.
pub struct Row {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The HTTP method.
    pub method: &'static str,
    /// `HUBSPOT_API_VERSION=legacy`.
    pub legacy: &'static str,
    /// `HUBSPOT_API_VERSION=2026-03`.
    pub v2026_03: &'static str,
    /// `HUBSPOT_API_VERSION=2026-09`.
    pub v2026_09: &'static str,
    /// What HubSpot's docs show for it and, where no GA dated path exists, what is used
    /// and until when. Read by the test that renders docs/hubspot.md's table.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "only the docs/hubspot.md table's test reads it")
    )]
    pub note: &'static str,
}

impl Row {
    /// The path template for `version`.
    pub fn template(&self, version: ApiVersion) -> &'static str {
        match version {
            ApiVersion::V2026_09 => self.v2026_09,
            ApiVersion::V2026_03 => self.v2026_03,
            ApiVersion::Legacy => self.legacy,
        }
    }
}

/// Every endpoint's paths (checked against HubSpot's API reference, Nov 2026).
pub static PATHS: &[Row] = &[
    Row {
        endpoint: Endpoint::ListObjects,
        method: "GET",
        legacy: "/crm/v3/objects/{type}",
        v2026_03: "/crm/objects/2026-03/{type}",
        v2026_09: "/crm/objects/2026-09/{type}",
        note: "Documented for 2026-09 and 2026-03; same query (`limit`, `after`, `properties`, `archived`) and `paging.next.after`.",
    },
    Row {
        endpoint: Endpoint::CreateObject,
        method: "POST",
        legacy: "/crm/v3/objects/{type}",
        v2026_03: "/crm/objects/2026-03/{type}",
        v2026_09: "/crm/objects/2026-09/{type}",
        note: "Documented for both. 2026-09 enforces the account's required-property rules: a 400 `VALIDATION_ERROR` naming the property and the rule.",
    },
    Row {
        endpoint: Endpoint::GetObject,
        method: "GET",
        legacy: "/crm/v3/objects/{type}/{id}",
        v2026_03: "/crm/objects/2026-03/{type}/{id}",
        v2026_09: "/crm/objects/2026-09/{type}/{id}",
        note: "Documented for 2026-09; the 2026-03 reference page has the same shape. `properties` and `idProperty` unchanged.",
    },
    Row {
        endpoint: Endpoint::UpdateObject,
        method: "PATCH",
        legacy: "/crm/v3/objects/{type}/{id}",
        v2026_03: "/crm/objects/2026-03/{type}/{id}",
        v2026_09: "/crm/objects/2026-09/{type}/{id}",
        note: "Documented for both; 2026-09 write validation applies.",
    },
    Row {
        endpoint: Endpoint::ArchiveObject,
        method: "DELETE",
        legacy: "/crm/v3/objects/{type}/{id}",
        v2026_03: "/crm/objects/2026-03/{type}/{id}",
        v2026_09: "/crm/objects/2026-09/{type}/{id}",
        note: "Documented for both; the record still goes to the recycle bin for 90 days.",
    },
    Row {
        endpoint: Endpoint::SearchObjects,
        method: "POST",
        legacy: "/crm/v3/objects/{type}/search",
        v2026_03: "/crm/objects/2026-03/{type}/search",
        v2026_09: "/crm/objects/2026-09/{type}/search",
        note: "Documented for both; same body (`filterGroups`, `sorts`, `query`, `properties`, `limit`, `after`).",
    },
    Row {
        endpoint: Endpoint::BatchObjects,
        method: "POST",
        legacy: "/crm/v3/objects/{type}/batch/{op}",
        v2026_03: "/crm/objects/2026-03/{type}/batch/{op}",
        v2026_09: "/crm/objects/2026-09/{type}/batch/{op}",
        note: "`read`, `create`, `update`: documented for both; still 100 inputs.",
    },
    Row {
        endpoint: Endpoint::ListAssociations,
        method: "GET",
        legacy: "/crm/v4/objects/{type}/{id}/associations/{to}",
        v2026_03: "/crm/v4/objects/{type}/{id}/associations/{to}",
        v2026_09: "/crm/v4/objects/{type}/{id}/associations/{to}",
        note: "Not called by the tools (mock only): HubSpot's docs show no dated form (only third-party sightings of `/crm/objects/{version}/{type}/{id}/associations/{to}`), so `get_associations` uses the batch read below; v4 ends **2027-03-30**.",
    },
    Row {
        endpoint: Endpoint::ReadAssociations,
        method: "POST",
        legacy: "/crm/v4/associations/{type}/{to}/batch/read",
        v2026_03: "/crm/associations/2026-03/{type}/{to}/batch/read",
        v2026_09: "/crm/associations/2026-03/{type}/{to}/batch/read",
        note: "`get_associations`, with one input `{id, after}`. Documented for 2026-03 (same body and answer as v4): 2026-09 uses the 2026-03 path (supported until at least 2027-09-30). No page size in the body: HubSpot's page, cut to `limit`.",
    },
    Row {
        endpoint: Endpoint::CreateDefaultAssociation,
        method: "PUT",
        legacy: "/crm/v4/objects/{type}/{id}/associations/default/{to}/{toId}",
        v2026_03: "/crm/objects/2026-03/{type}/{id}/associations/default/{to}/{toId}",
        v2026_09: "/crm/objects/2026-03/{type}/{id}/associations/default/{to}/{toId}",
        note: "Documented for 2026-03 only: 2026-09 uses the 2026-03 path (supported until at least 2027-09-30).",
    },
    Row {
        endpoint: Endpoint::CreateLabeledAssociation,
        method: "PUT",
        legacy: "/crm/v4/objects/{type}/{id}/associations/{to}/{toId}",
        v2026_03: "/crm/objects/2026-03/{type}/{id}/associations/{to}/{toId}",
        v2026_09: "/crm/objects/2026-09/{type}/{id}/associations/{to}/{toId}",
        note: "Documented for both; body `[{associationCategory, associationTypeId}]` unchanged.",
    },
    Row {
        endpoint: Endpoint::AssociationLabels,
        method: "GET",
        legacy: "/crm/v4/associations/{type}/{to}/labels",
        v2026_03: "/crm/associations/2026-03/{type}/{to}/labels",
        v2026_09: "/crm/associations/2026-09/{type}/{to}/labels",
        note: "Documented for both.",
    },
    Row {
        endpoint: Endpoint::ListOwners,
        method: "GET",
        legacy: "/crm/v3/owners",
        v2026_03: "/crm/v3/owners",
        v2026_09: "/crm/v3/owners",
        note: "The dated path (`/crm/owners/2026-03`) appears only in HubSpot's generated SDK, not in its docs: v3 under every version, until v1–v3 end in **September 2027**.",
    },
    Row {
        endpoint: Endpoint::GetOwner,
        method: "GET",
        legacy: "/crm/v3/owners/{id}",
        v2026_03: "/crm/v3/owners/{id}",
        v2026_09: "/crm/v3/owners/{id}",
        note: "Not called by the tools (mock only); as the owners list.",
    },
    Row {
        endpoint: Endpoint::ListPipelines,
        method: "GET",
        legacy: "/crm/v3/pipelines/{type}",
        v2026_03: "/crm/pipelines/2026-03/{type}",
        v2026_09: "/crm/pipelines/2026-03/{type}",
        note: "Documented for 2026-03 (2026-09 documents only pipeline writes): 2026-09 uses the 2026-03 path (supported until at least 2027-09-30).",
    },
    Row {
        endpoint: Endpoint::GetPipeline,
        method: "GET",
        legacy: "/crm/v3/pipelines/{type}/{id}",
        v2026_03: "/crm/pipelines/2026-03/{type}/{id}",
        v2026_09: "/crm/pipelines/2026-03/{type}/{id}",
        note: "Not called by the tools (mock only); as the pipelines list.",
    },
    Row {
        endpoint: Endpoint::ListProperties,
        method: "GET",
        legacy: "/crm/v3/properties/{type}",
        v2026_03: "/crm/properties/2026-03/{type}",
        v2026_09: "/crm/properties/2026-09/{type}",
        note: "Documented for both.",
    },
    Row {
        endpoint: Endpoint::GetProperty,
        method: "GET",
        legacy: "/crm/v3/properties/{type}/{name}",
        v2026_03: "/crm/v3/properties/{type}/{name}",
        v2026_09: "/crm/v3/properties/{type}/{name}",
        note: "Not called by the tools (mock only; `get_properties` filters the list). No dated GET documented: v3 until September 2027.",
    },
    Row {
        endpoint: Endpoint::CreateProperty,
        method: "POST",
        legacy: "/crm/v3/properties/{type}",
        v2026_03: "/crm/properties/2026-03/{type}",
        v2026_09: "/crm/properties/2026-03/{type}",
        note: "Documented for 2026-03 only: 2026-09 uses the 2026-03 path (supported until at least 2027-09-30).",
    },
    Row {
        endpoint: Endpoint::UpdateProperty,
        method: "PATCH",
        legacy: "/crm/v3/properties/{type}/{name}",
        v2026_03: "/crm/properties/2026-03/{type}/{name}",
        v2026_09: "/crm/properties/2026-03/{type}/{name}",
        note: "Documented for 2026-03 only: 2026-09 uses the 2026-03 path (supported until at least 2027-09-30).",
    },
    Row {
        endpoint: Endpoint::ListWorkflows,
        method: "GET",
        legacy: "/automation/v4/flows",
        v2026_03: "/automation/v4/flows",
        v2026_09: "/automation/v4/flows",
        note: "Only a beta dated path exists (`/automation/2026-09-beta/flows`; betas may change): v4 under every version, until v4's end of support on **2027-03-30**.",
    },
    Row {
        endpoint: Endpoint::GetWorkflow,
        method: "GET",
        legacy: "/automation/v4/flows/{id}",
        v2026_03: "/automation/v4/flows/{id}",
        v2026_09: "/automation/v4/flows/{id}",
        note: "As the workflows list (beta only: `/automation/2026-09-beta/flows/{id}`): v4 until **2027-03-30**.",
    },
    Row {
        endpoint: Endpoint::AccountDetails,
        method: "GET",
        legacy: "/account-info/v3/details",
        v2026_03: "/account-info/2026-03/details",
        v2026_09: "/account-info/2026-03/details",
        note: "Documented for 2026-03 only: 2026-09 uses the 2026-03 path (supported until at least 2027-09-30).",
    },
    Row {
        endpoint: Endpoint::TokenInfo,
        method: "POST",
        legacy: "/oauth/v2/private-apps/get/access-token-info",
        v2026_03: "/oauth/v2/private-apps/get/access-token-info",
        v2026_09: "/oauth/v2/private-apps/get/access-token-info",
        note: "No dated equivalent (`/oauth/2026-03/token/introspect` needs an app's client secret) and no documented introspection for Service Keys: the private-app endpoint under every version, until September 2027.",
    },
];

/// The row of `endpoint`.
pub fn row(endpoint: Endpoint) -> &'static Row {
    PATHS
        .iter()
        .find(|r| r.endpoint == endpoint)
        .expect("every endpoint has a row")
}

/// The path of `endpoint` under `version`, its placeholders filled with `params` in
/// order, each percent-encoded.
pub fn build(version: ApiVersion, endpoint: Endpoint, params: &[&str]) -> String {
    let mut params = params.iter();
    row(endpoint)
        .template(version)
        .split('/')
        .map(|segment| match segment.starts_with('{') {
            true => encode(params.next().copied().unwrap_or_default()),
            false => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The endpoint `method path` is under `version`, with the placeholders' raw values.
pub fn route<'p>(
    version: ApiVersion,
    method: &str,
    path: &'p str,
) -> Option<(Endpoint, Vec<&'p str>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    PATHS
        .iter()
        .filter(|r| r.method.eq_ignore_ascii_case(method))
        .find_map(|r| {
            let template: Vec<&str> = r.template(version).split('/').collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut params = Vec::new();
            for (t, s) in template.iter().zip(&segments) {
                if t.starts_with('{') {
                    if s.is_empty() {
                        return None;
                    }
                    params.push(*s);
                } else if t != s {
                    return None;
                }
            }
            Some((r.endpoint, params))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_name_themselves() {
        for version in ApiVersion::ALL {
            assert_eq!(ApiVersion::parse(version.as_str()), Some(version));
        }
        assert_eq!(ApiVersion::parse("LEGACY"), Some(ApiVersion::Legacy));
        assert_eq!(ApiVersion::parse("v3"), None);
        assert_eq!(ApiVersion::default(), ApiVersion::V2026_09);
    }

    #[test]
    fn paths_are_built_encoded_and_routed_back() {
        use ApiVersion::*;
        assert_eq!(
            build(V2026_09, Endpoint::GetObject, &["contacts", "a b"]),
            "/crm/objects/2026-09/contacts/a%20b"
        );
        assert_eq!(
            build(Legacy, Endpoint::SearchObjects, &["deals"]),
            "/crm/v3/objects/deals/search"
        );
        assert_eq!(
            build(V2026_09, Endpoint::ListPipelines, &["deals"]),
            "/crm/pipelines/2026-03/deals",
            "no 2026-09 pipelines GET is documented"
        );
        for version in ApiVersion::ALL {
            for row in PATHS {
                let params: Vec<String> = (0..6).map(|i| format!("p{i}")).collect();
                let params: Vec<&str> = params.iter().map(String::as_str).collect();
                let path = build(version, row.endpoint, &params);
                let (endpoint, _) = route(version, row.method, &path).unwrap();
                assert_eq!(endpoint, row.endpoint, "{version} {path}");
            }
        }
        assert!(route(V2026_09, "GET", "/crm/v3/objects/contacts").is_none());
        assert!(route(Legacy, "GET", "/crm/objects/2026-09/contacts").is_none());
        assert!(route(V2026_03, "GET", "/crm/objects/2026-09/contacts").is_none());
        assert_eq!(
            route(
                V2026_03,
                "PUT",
                "/crm/objects/2026-03/contacts/1/associations/companies/2"
            ),
            Some((
                Endpoint::CreateLabeledAssociation,
                vec!["contacts", "1", "companies", "2"]
            ))
        );
    }

    /// docs/hubspot.md's table of paths, rendered from [`PATHS`].
    fn docs_table() -> String {
        let mut table = String::from(
            "| endpoint | method | `legacy` | `2026-03` | `2026-09` (default) | what HubSpot documents; what is used until when |\n| --- | --- | --- | --- | --- | --- |\n",
        );
        for r in PATHS {
            table.push_str(&format!(
                "| {:?} | {} | `{}` | `{}` | `{}` | {} |\n",
                r.endpoint, r.method, r.legacy, r.v2026_03, r.v2026_09, r.note
            ));
        }
        table
    }

    #[test]
    fn docs_api_version_table_matches_the_code() {
        const BEGIN: &str = "<!-- api-versions:begin (src/hubspot/paths.rs renders this; UPDATE_DOCS=1 rewrites it) -->\n";
        const END: &str = "<!-- api-versions:end -->";
        crate::testing::docs::sync_section(
            "docs/hubspot.md",
            BEGIN,
            END,
            &docs_table(),
            "cargo test paths::tests::docs",
        );
    }
}
