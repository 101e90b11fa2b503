//! Reference panels: listing, reading and administering them.

use super::{Registry, set, split_page, store_error};
use crate::error::{RegistryError, RegistryResult};
use crate::model::{ApiType, Page, Panel, PanelPatch, PanelSource, PanelSpec, Service};
use crate::store::{PanelCursor, PanelFilter, StoreError};

impl Registry {
    /// A page of panels ordered by service, then name. `filter.include_inactive`
    /// must already reflect the caller's rights; a `service_id` that does
    /// not exist, or that the caller may not see, is NOT_FOUND.
    pub async fn list_panels(
        &self,
        filter: &PanelFilter,
        after: Option<&PanelCursor>,
        limit: usize,
        privileged: bool,
    ) -> RegistryResult<Page<Panel, PanelCursor>> {
        if let Some(service_id) = filter.service_id {
            self.get_service(service_id, privileged).await?;
        }
        let rows = self.store.list_panels(filter, after, limit + 1).await?;
        let (items, more) = split_page(rows, limit);
        let next = more.then(|| items.last()).flatten().map(|p| PanelCursor {
            service_id: p.service_id,
            name: p.spec.name.clone(),
            id: p.id,
        });
        Ok(Page { items, next })
    }

    /// One panel; an inactive one (or one of an inactive service) only for
    /// `privileged` callers.
    pub async fn get_panel(&self, id: i64, privileged: bool) -> RegistryResult<Panel> {
        let panel = self
            .store
            .get_panel(id)
            .await?
            .ok_or(RegistryError::PanelNotFound(id))?;
        if !privileged {
            let service_active = self
                .store
                .get_service(panel.service_id)
                .await?
                .is_some_and(|s| s.spec.is_active);
            if !(panel.spec.is_active && service_active) {
                return Err(RegistryError::PanelNotFound(id));
            }
        }
        Ok(panel)
    }

    /// Adds a panel to a service by hand.
    pub async fn create_panel(&self, service_id: i64, spec: PanelSpec) -> RegistryResult<Panel> {
        let service = self.get_service(service_id, true).await?;
        check_build(&service, &spec)?;
        check_workflow(&service, &spec)?;
        check_default_population(&spec)?;
        let slug = spec.slug.clone();
        self.store
            .insert_panel(service_id, &spec, PanelSource::Manual, self.now())
            .await
            .map_err(|e| match e {
                StoreError::Missing(_) => RegistryError::ServiceNotFound(service_id),
                other => store_error(other, || RegistryError::PanelSlugTaken { service_id, slug }),
            })
    }

    /// Applies `patch` to panel `id`. The build and workflow rules apply to
    /// the fields the patch sets, so that a discovered panel stays editable.
    pub async fn update_panel(&self, id: i64, patch: PanelPatch) -> RegistryResult<Panel> {
        let panel = self.get_panel(id, true).await?;
        let service = self.get_service(panel.service_id, true).await?;
        let build_set = patch.build.is_some();
        let workflow_set = matches!(patch.wes_workflow, Some(Some(_)));
        let populations_set = patch.populations.is_some() || patch.default_population.is_some();
        let spec = apply(panel.spec, patch);
        if build_set {
            check_build(&service, &spec)?;
        }
        if workflow_set {
            check_workflow(&service, &spec)?;
        }
        if populations_set {
            check_default_population(&spec)?;
        }
        let (service_id, slug) = (service.id, spec.slug.clone());
        self.store
            .update_panel(id, &spec, self.now())
            .await
            .map_err(|e| match e {
                StoreError::Missing(_) => RegistryError::PanelNotFound(id),
                other => store_error(other, || RegistryError::PanelSlugTaken { service_id, slug }),
            })
    }

    pub async fn delete_panel(&self, id: i64) -> RegistryResult<()> {
        if self.store.delete_panel(id).await? {
            Ok(())
        } else {
            Err(RegistryError::PanelNotFound(id))
        }
    }
}

fn check_build(service: &Service, spec: &PanelSpec) -> RegistryResult<()> {
    if service.spec.supported_builds.contains(&spec.build) {
        Ok(())
    } else {
        Err(RegistryError::BuildNotSupported {
            service_id: service.id,
            build: spec.build,
        })
    }
}

fn check_workflow(service: &Service, spec: &PanelSpec) -> RegistryResult<()> {
    if spec.wes_workflow.is_some() && service.spec.api_type == ApiType::Michigan {
        Err(RegistryError::WorkflowOnMichigan)
    } else {
        Ok(())
    }
}

fn check_default_population(spec: &PanelSpec) -> RegistryResult<()> {
    let known = spec
        .populations
        .iter()
        .any(|p| p.id == spec.default_population);
    if spec.default_population.is_empty() || known {
        Ok(())
    } else {
        Err(RegistryError::UnknownDefaultPopulation(
            spec.default_population.clone(),
        ))
    }
}

fn apply(mut spec: PanelSpec, patch: PanelPatch) -> PanelSpec {
    let PanelPatch {
        slug,
        name,
        description,
        build,
        populations,
        default_population,
        sample_count,
        variant_count,
        is_active,
        version,
        wes_workflow,
    } = patch;
    set(&mut spec.slug, slug);
    set(&mut spec.name, name);
    set(&mut spec.description, description);
    set(&mut spec.build, build);
    set(&mut spec.populations, populations);
    set(&mut spec.default_population, default_population);
    set(&mut spec.sample_count, sample_count);
    set(&mut spec.variant_count, variant_count);
    set(&mut spec.is_active, is_active);
    set(&mut spec.version, version);
    set(&mut spec.wes_workflow, wes_workflow);
    spec
}
