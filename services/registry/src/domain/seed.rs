//! First start: the public catalogue goes into an empty registry.

use super::Registry;
use crate::catalog;
use crate::error::RegistryResult;

impl Registry {
    /// Seeds the public catalogue when the registry holds no service yet.
    /// Returns whether it did.
    pub async fn seed_catalog(&self) -> RegistryResult<bool> {
        let entries: Vec<_> = catalog::catalog()
            .into_iter()
            .map(|entry| (entry.service, entry.panels))
            .collect();
        let seeded = self.store.seed(&entries, self.now()).await?;
        if seeded {
            tracing::info!(services = entries.len(), "seeded the public catalogue");
            self.wake_scheduler();
        }
        Ok(seeded)
    }
}
