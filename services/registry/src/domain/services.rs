//! Imputation services: listing, reading and administering the catalogue.

use super::{Registry, set, split_page, store_error};
use crate::error::{RegistryError, RegistryResult};
use crate::model::{ApiSettings, ApiType, Page, Service, ServicePatch, ServiceSpec};
use crate::store::{ServiceCursor, ServiceFilter};

impl Registry {
    /// A page of services in name order. `filter.include_inactive` must
    /// already reflect the caller's rights.
    pub async fn list_services(
        &self,
        filter: &ServiceFilter,
        after: Option<&ServiceCursor>,
        limit: usize,
    ) -> RegistryResult<Page<Service, ServiceCursor>> {
        let rows = self.store.list_services(filter, after, limit + 1).await?;
        let (items, more) = split_page(rows, limit);
        let next = more.then(|| items.last()).flatten().map(|s| ServiceCursor {
            name: s.spec.name.clone(),
            id: s.id,
        });
        Ok(Page { items, next })
    }

    /// One service; an inactive one only for `privileged` callers.
    pub async fn get_service(&self, id: i64, privileged: bool) -> RegistryResult<Service> {
        match self.store.get_service(id).await? {
            Some(service) if privileged || service.spec.is_active => Ok(service),
            _ => Err(RegistryError::ServiceNotFound(id)),
        }
    }

    /// Adds a service; its first health check follows shortly.
    pub async fn create_service(&self, spec: ServiceSpec) -> RegistryResult<Service> {
        if spec.settings.api_type() != spec.api_type {
            return Err(RegistryError::SettingsMismatch {
                member: settings_member(spec.settings.api_type()),
                api_type: spec.api_type,
            });
        }
        let service = self
            .store
            .insert_service(&spec, self.now())
            .await
            .map_err(|e| store_error(e, || RegistryError::ServiceSlugTaken(spec.slug.clone())))?;
        tracing::info!(service_id = service.id, slug = %service.spec.slug, "service added");
        self.wake_scheduler();
        Ok(service)
    }

    /// Applies `patch` to service `id`.
    pub async fn update_service(&self, id: i64, patch: ServicePatch) -> RegistryResult<Service> {
        let current = self.get_service(id, true).await?;
        let base_url_changed = patch
            .base_url
            .as_ref()
            .is_some_and(|u| *u != current.spec.base_url);
        let spec = apply(current.spec, patch)?;
        let slug = spec.slug.clone();
        let service = self
            .store
            .update_service(id, &spec, self.now())
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Missing(_) => RegistryError::ServiceNotFound(id),
                other => store_error(other, || RegistryError::ServiceSlugTaken(slug)),
            })?;
        if base_url_changed {
            self.wake_scheduler();
        }
        Ok(service)
    }

    /// Removes a service with its panels and health history.
    pub async fn delete_service(&self, id: i64) -> RegistryResult<()> {
        if self.store.delete_service(id).await? {
            tracing::info!(service_id = id, "service deleted");
            Ok(())
        } else {
            Err(RegistryError::ServiceNotFound(id))
        }
    }
}

fn settings_member(api_type: ApiType) -> &'static str {
    match api_type {
        ApiType::Michigan => "michigan",
        ApiType::Ga4ghWes => "wes",
    }
}

/// The service description after `patch`.
fn apply(mut spec: ServiceSpec, patch: ServicePatch) -> RegistryResult<ServiceSpec> {
    let ServicePatch {
        api_type,
        name,
        slug,
        base_url,
        description,
        location_country,
        location_institution,
        supported_builds,
        input_formats,
        supported_phasing,
        max_file_size_bytes,
        is_active,
        auth_instructions_url,
        michigan,
        wes,
    } = patch;
    if let Some(api_type) = api_type
        && api_type != spec.api_type
    {
        return Err(RegistryError::ApiTypeChange(spec.api_type));
    }
    set(&mut spec.name, name);
    set(&mut spec.slug, slug);
    set(&mut spec.base_url, base_url);
    set(&mut spec.description, description);
    set(&mut spec.location_country, location_country);
    set(&mut spec.location_institution, location_institution);
    set(&mut spec.supported_builds, supported_builds);
    set(&mut spec.input_formats, input_formats);
    set(&mut spec.supported_phasing, supported_phasing);
    set(&mut spec.max_file_size_bytes, max_file_size_bytes);
    set(&mut spec.is_active, is_active);
    set(&mut spec.auth_instructions_url, auth_instructions_url);
    let api_type = spec.api_type;
    match (&mut spec.settings, michigan, wes) {
        (_, None, None) => {}
        (ApiSettings::Michigan(settings), Some(m), None) => {
            set(&mut settings.app_id, m.app_id);
            set(&mut settings.aes_encryption, m.aes_encryption);
            set(
                &mut settings.max_concurrent_jobs_per_user,
                m.max_concurrent_jobs_per_user,
            );
            set(&mut settings.r2_filter_values, m.r2_filter_values);
        }
        (ApiSettings::Wes(settings), None, Some(w)) => {
            set(&mut settings.default_workflow, w.default_workflow);
        }
        (ApiSettings::Michigan(_), _, Some(_)) => {
            return Err(RegistryError::SettingsMismatch {
                member: "wes",
                api_type,
            });
        }
        (ApiSettings::Wes(_), Some(_), _) => {
            return Err(RegistryError::SettingsMismatch {
                member: "michigan",
                api_type,
            });
        }
    }
    Ok(spec)
}
