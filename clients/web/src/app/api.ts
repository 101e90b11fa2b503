// The one session and the service clients the pages share.
import { useSyncExternalStore } from "react";
import {
  Session,
  createClients,
  grpcWebTransport,
  localStorageStore,
  type SessionState,
} from "@fip/client";

/** The gateway: the page's own origin unless built with VITE_FIP_GATEWAY. */
export const gatewayUrl: string = (import.meta.env.VITE_FIP_GATEWAY as string | undefined) ?? "";

export const session = new Session({
  baseUrl: gatewayUrl || location.origin,
  store: localStorageStore(),
});

export const transport = grpcWebTransport(gatewayUrl, [session.interceptor]);
export const api = createClients(transport);

let state: SessionState = { user: session.user };
session.onChange((s) => {
  state = s;
});

function subscribe(changed: () => void) {
  return session.onChange(changed);
}

/** The session's state, re-rendering on sign-in and sign-out. */
export function useSession(): SessionState {
  return useSyncExternalStore(subscribe, () => state);
}
