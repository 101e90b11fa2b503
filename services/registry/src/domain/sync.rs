//! Reference-panel discovery: reconciling a Michigan-type service's panels
//! with the `refpanel` values its Cloudgene application lists.

use std::collections::HashSet;

use super::Registry;
use crate::error::{RegistryError, RegistryResult};
use crate::model::{ApiSettings, GenomeBuild, Panel, PanelSource, PanelSpec, Population};
use crate::rules;
use crate::store::SyncChanges;
use crate::upstream::{DiscoveredPanel, DiscoveryError};

/// What to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncRequest {
    /// Compute the changes without applying them.
    pub dry_run: bool,
    /// Leave panels the server no longer lists active.
    pub keep_missing: bool,
    /// A token for this call only; never stored.
    pub api_token: Option<String>,
}

/// What changed (or would change, on a dry run).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    pub added: Vec<Panel>,
    pub updated: Vec<Panel>,
    pub deactivated: Vec<Panel>,
    pub unchanged_count: i32,
    pub dry_run: bool,
    pub app_id: String,
    pub synced_at: i64,
}

/// The identity of a panel across versions: the Cloudgene application id
/// inside a `refpanel` value (`apps@h3africa-v6hc-s@1.0.0`, `h3africa-v6hc-s`
/// and `apps@h3africa-v6hc-s` are all `h3africa-v6hc-s`).
pub fn panel_key(value: &str) -> &str {
    let rest = value.strip_prefix("apps@").unwrap_or(value);
    rest.split('@').next().unwrap_or(rest)
}

impl Registry {
    /// Reads the panels a Michigan-type service offers and reconciles the
    /// catalogue with them.
    pub async fn sync_panels(&self, id: i64, request: SyncRequest) -> RegistryResult<SyncReport> {
        let service = self.get_service(id, true).await?;
        let app_id = match &service.spec.settings {
            ApiSettings::Michigan(m) => m.app_id.clone(),
            ApiSettings::Wes(_) => {
                return Err(RegistryError::NotSupported {
                    operation: "SyncReferencePanels",
                    api_type: service.spec.api_type,
                });
            }
        };
        let token = request.api_token.filter(|t| !t.is_empty()).or_else(|| {
            self.settings
                .discovery_tokens
                .get(&service.spec.slug)
                .cloned()
        });
        let discovered = self
            .upstream
            .list_panels(
                service.spec.api_type,
                &service.spec.base_url,
                &app_id,
                token.as_deref(),
            )
            .await
            .map_err(|e| match e {
                DiscoveryError::Rejected(message) => RegistryError::CredentialsRejected {
                    service_id: id,
                    message: if token.is_some() {
                        message
                    } else {
                        format!(
                            "it lists panels to signed-in users only: send an api_token ({message})"
                        )
                    },
                },
                DiscoveryError::Unreachable(message) => RegistryError::Unreachable {
                    service_id: id,
                    message,
                },
                DiscoveryError::Unreadable {
                    http_status,
                    message,
                } => RegistryError::UpstreamFailed {
                    service_id: id,
                    http_status,
                    message,
                },
            })?;
        let now = self.now();
        let existing = self.store.panels_of_service(id).await?;
        let changes = reconcile(&existing, discovered, request.keep_missing);
        let unchanged_count = i32::try_from(changes.touch.len()).unwrap_or(i32::MAX);
        let report = |added, updated, deactivated| SyncReport {
            added,
            updated,
            deactivated,
            unchanged_count,
            dry_run: request.dry_run,
            app_id: app_id.clone(),
            synced_at: now,
        };
        if request.dry_run {
            let find = |id: i64| existing.iter().find(|p| p.id == id).cloned();
            let added = changes
                .add
                .iter()
                .map(|spec| Panel {
                    id: 0,
                    service_id: id,
                    spec: spec.clone(),
                    source: PanelSource::Discovered,
                    last_synced_at: Some(now),
                    created_at: now,
                    updated_at: now,
                })
                .collect();
            let updated = changes
                .update
                .iter()
                .filter_map(|(panel_id, spec)| {
                    find(*panel_id).map(|p| Panel {
                        spec: spec.clone(),
                        last_synced_at: Some(now),
                        ..p
                    })
                })
                .collect();
            let deactivated = changes
                .deactivate
                .iter()
                .filter_map(|panel_id| find(*panel_id))
                .map(|mut p| {
                    p.spec.is_active = false;
                    p
                })
                .collect();
            return Ok(report(added, updated, deactivated));
        }
        let applied = self.store.apply_sync(id, &changes, now).await?;
        tracing::info!(
            service_id = id,
            added = applied.added.len(),
            updated = applied.updated.len(),
            deactivated = applied.deactivated.len(),
            unchanged = unchanged_count,
            "reference panels synchronised"
        );
        Ok(report(applied.added, applied.updated, applied.deactivated))
    }
}

/// The changes that bring `existing` in line with what the server lists.
///
/// A listed panel matches the stored panel with the same value, else one
/// with the same key (a new version of it). Matches take the server's
/// value, name, version, build and populations; the rest (description,
/// counts, activity, workflow) stays the administrator's. Stored panels
/// left unmatched are deactivated unless `keep_missing`.
pub fn reconcile(
    existing: &[Panel],
    discovered: Vec<DiscoveredPanel>,
    keep_missing: bool,
) -> SyncChanges {
    let mut changes = SyncChanges::default();
    let mut matched = HashSet::new();
    let mut seen_keys = HashSet::new();
    for found in discovered {
        let Some(found) = sanitize(found) else {
            continue;
        };
        if !seen_keys.insert(panel_key(&found.value).to_string()) {
            continue;
        }
        let candidate = existing
            .iter()
            .filter(|p| !matched.contains(&p.id))
            .find(|p| p.spec.slug == found.value)
            .or_else(|| {
                existing
                    .iter()
                    .filter(|p| !matched.contains(&p.id))
                    .find(|p| panel_key(&p.spec.slug) == panel_key(&found.value))
            });
        match candidate {
            Some(panel) => {
                matched.insert(panel.id);
                let spec = refreshed(&panel.spec, found);
                if spec == panel.spec {
                    changes.touch.push(panel.id);
                } else {
                    changes.update.push((panel.id, spec));
                }
            }
            None => changes.add.push(PanelSpec {
                slug: found.value,
                name: found.name,
                description: String::new(),
                // Cloudgene's own default when a panel names no build.
                build: found.build.unwrap_or(GenomeBuild::Hg19),
                populations: found.populations,
                default_population: String::new(),
                sample_count: 0,
                variant_count: 0,
                is_active: true,
                version: found.version,
                wes_workflow: None,
            }),
        }
    }
    if !keep_missing {
        changes.deactivate = existing
            .iter()
            .filter(|p| p.spec.is_active && !matched.contains(&p.id))
            .map(|p| p.id)
            .collect();
    }
    changes
}

fn refreshed(current: &PanelSpec, found: DiscoveredPanel) -> PanelSpec {
    let default_population = if found
        .populations
        .iter()
        .any(|p| p.id == current.default_population)
    {
        current.default_population.clone()
    } else {
        String::new()
    };
    PanelSpec {
        slug: found.value,
        name: found.name,
        build: found.build.unwrap_or(current.build),
        version: found.version,
        populations: found.populations,
        default_population,
        ..current.clone()
    }
}

/// Makes a listed panel storable (what the API would accept), or drops it.
fn sanitize(mut found: DiscoveredPanel) -> Option<DiscoveredPanel> {
    found.value = found.value.trim().to_string();
    if !rules::is_panel_slug(&found.value) {
        tracing::warn!(value = %found.value, "ignoring a listed panel with an unusable value");
        return None;
    }
    found.name = clip(found.name.trim(), rules::NAME_MAX);
    if found.name.is_empty() {
        found.name = found.value.clone();
    }
    found.version = clip(found.version.trim(), rules::VERSION_MAX);
    let mut ids = HashSet::new();
    found.populations = found
        .populations
        .into_iter()
        .filter_map(|p| {
            let id = p.id.trim().to_string();
            (!id.is_empty()
                && id.chars().count() <= rules::POPULATION_ID_MAX
                && ids.insert(id.clone()))
            .then(|| Population {
                id,
                name: clip(p.name.trim(), rules::NAME_MAX),
                sample_count: p.sample_count.max(0),
            })
        })
        .collect();
    Some(found)
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_prefix_and_version() {
        for value in [
            "apps@h3africa-v6hc-s@1.0.0",
            "apps@h3africa-v6hc-s",
            "h3africa-v6hc-s",
            "h3africa-v6hc-s@2.0.0",
        ] {
            assert_eq!(panel_key(value), "h3africa-v6hc-s", "{value}");
        }
    }
}
