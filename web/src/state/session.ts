import { useSyncExternalStore } from "react";
import { session } from "../api";
import type { SessionState } from "../api/session";

/** Who is signed in; re-renders on login, logout, refresh and expiry. */
export function useSession(): SessionState & { isAdmin: boolean } {
  const state = useSyncExternalStore(session.subscribe, session.getState);
  return { ...state, isAdmin: state.user?.roles.includes("admin") ?? false };
}
