// The New job form's draft, kept in memory across navigation: a user sent
// to the credential settings by "Setup required" comes back to the form
// still filled in (the chosen File and the finished upload included).
import { useSyncExternalStore } from "react";
import type { UploadedFile } from "@fip/client";

export interface TargetDraft {
  key: number;
  serviceId: string;
  panelId: string;
  population: string;
}

export interface JobDraft {
  name: string;
  file: File | undefined;
  /** The upload of `file`, once done (not repeated on a second submit). */
  uploaded: { file: File; stored: UploadedFile } | undefined;
  targets: TargetDraft[];
  build: string;
  phasing: string;
  mode: string;
  r2Filter: string;
  /** Idempotency key of the submission being attempted. */
  requestId: string;
}

let nextKey = 1;

export function newTarget(): TargetDraft {
  return { key: nextKey++, serviceId: "", panelId: "", population: "" };
}

export function emptyDraft(): JobDraft {
  return {
    name: "",
    file: undefined,
    uploaded: undefined,
    targets: [newTarget()],
    build: "",
    phasing: "",
    mode: "imputation",
    r2Filter: "",
    requestId: crypto.randomUUID(),
  };
}

let draft: JobDraft = emptyDraft();
const listeners = new Set<() => void>();

export function getDraft(): JobDraft {
  return draft;
}

export function updateDraft(change: Partial<JobDraft> | ((d: JobDraft) => Partial<JobDraft>)) {
  const patch = typeof change === "function" ? change(draft) : change;
  draft = { ...draft, ...patch };
  for (const l of listeners) l();
}

export function resetDraft() {
  draft = emptyDraft();
  for (const l of listeners) l();
}

export function useDraft(): JobDraft {
  return useSyncExternalStore(
    (changed) => {
      listeners.add(changed);
      return () => listeners.delete(changed);
    },
    () => draft,
  );
}
