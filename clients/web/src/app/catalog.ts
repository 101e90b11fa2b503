// The catalogue of imputation services and their panels, loaded once per
// page load and shared; pages that change it call `invalidateCatalog`.
import { useEffect, useState } from "react";
import type { ImputationService } from "@fip/client/gen/fip/registry/v1/imputation_service_pb";
import type { ReferencePanel } from "@fip/client/gen/fip/registry/v1/reference_panel_pb";
import { apiError, type ApiError } from "@fip/client";
import { api } from "./api";

export interface Catalog {
  services: ImputationService[];
  panels: ReferencePanel[];
}

let cached: Promise<Catalog> | undefined;
const listeners = new Set<() => void>();

async function loadAll(): Promise<Catalog> {
  const services: ImputationService[] = [];
  let pageToken = "";
  do {
    const res = await api.registry.listServices({ pageSize: 200, pageToken, includeInactive: true });
    services.push(...res.services);
    pageToken = res.nextPageToken;
  } while (pageToken);
  const panels: ReferencePanel[] = [];
  pageToken = "";
  do {
    const res = await api.registry.listReferencePanels({ pageSize: 500, pageToken, includeInactive: true });
    panels.push(...res.referencePanels);
    pageToken = res.nextPageToken;
  } while (pageToken);
  return { services, panels };
}

export function invalidateCatalog() {
  cached = undefined;
  for (const l of listeners) l();
}

export function useCatalog(): { catalog?: Catalog; error?: ApiError; reload: () => void } {
  const [state, setState] = useState<{ catalog?: Catalog; error?: ApiError }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const changed = () => setTick((t) => t + 1);
    listeners.add(changed);
    return () => void listeners.delete(changed);
  }, []);
  useEffect(() => {
    let live = true;
    cached ??= loadAll();
    const p = cached;
    p.then(
      (catalog) => live && setState({ catalog }),
      (e) => {
        if (cached === p) cached = undefined;
        if (live) setState({ error: apiError(e) });
      },
    );
    return () => {
      live = false;
    };
  }, [tick]);
  return { ...state, reload: invalidateCatalog };
}

export function serviceName(catalog: Catalog | undefined, id: bigint): string {
  return catalog?.services.find((s) => s.id === id)?.name ?? `service ${id}`;
}
