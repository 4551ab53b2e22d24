// Who is signed in, and a valid access token for them.
//
// Signing in is the authorization code flow with PKCE (./signin.ts): auth's own page takes
// the password, and the code it hands back is exchanged here for an access token. The access
// token lives in this object's memory only: never in localStorage, sessionStorage or a
// readable cookie, where any injected script could take it. The refresh token is only ever
// the `bazaar_refresh` cookie (httpOnly, SameSite=Strict, Path=/api/auth) that auth sets: no
// answer the page can read carries it. The browser sends it with `POST /api/auth/token`
// (grant_type=refresh_token), which answers a new access token and rotates the cookie. So a reload signs the user back in silently, and a
// token is renewed a minute before it expires. Auth revokes a whole family when a used
// refresh token comes back, so refreshes never overlap: one at a time per tab (a shared
// promise) and across tabs (a Web Lock).
import { errorFromResponse, networkError } from "./errors";
import type { TokenAnswer } from "./types";

export const TOKEN_URL = "/api/auth/token";
export const LOGOUT_URL = "/api/auth/logout";
export const CLIENT_ID = "storefront";

export type SessionStatus = "restoring" | "anonymous" | "signed-in";

export interface SessionUser {
  id: string;
  roles: string[];
}

export interface SessionState {
  status: SessionStatus;
  user: SessionUser | null;
}

export interface SessionMessage {
  type: "logged-out" | "logged-in";
}

export interface SessionDeps {
  fetch: typeof fetch;
  now: () => number;
  setTimer: (callback: () => void, ms: number) => unknown;
  clearTimer: (handle: unknown) => void;
  /** Whether someone signed in on this browser: a flag only, so anonymous visits skip the
   * refresh call (the token endpoint is rate limited per IP). Never a token. */
  hint: { get(): boolean; set(signedIn: boolean): void };
  /** Runs `task` while no other tab of this origin refreshes. */
  lock: <T>(task: () => Promise<T>) => Promise<T>;
  /** Tells the other tabs about logins and logouts, and hears theirs. */
  channel?: { post(message: SessionMessage): void; listen(handler: (m: SessionMessage) => void): void };
  /** Refresh this long before the token expires (capped at a fifth of its lifetime). */
  refreshMarginMs?: number;
  /** After a failed background refresh, try again this much later. */
  retryMs?: number;
}

/** The claims the app reads from an access token (it never verifies them: services do). */
export function decodeClaims(token: string): { sub: string; roles: string[]; exp?: number } {
  const payload = token.split(".")[1];
  if (!payload) throw new Error("not a JWT");
  const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  const claims = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  return {
    sub: String(claims.sub ?? ""),
    roles: Array.isArray(claims.roles) ? claims.roles.map(String) : [],
    exp: typeof claims.exp === "number" ? claims.exp : undefined,
  };
}

export class Session {
  private access: string | null = null;
  private expiresAt = 0;
  private issuedAt = 0;
  private state: SessionState = { status: "restoring", user: null };
  private refreshing: Promise<string | null> | null = null;
  private restoring: Promise<void> | null = null;
  private timer: unknown = null;
  private readonly listeners = new Set<() => void>();
  private readonly deps: SessionDeps;

  constructor(deps: SessionDeps) {
    this.deps = deps;
    deps.channel?.listen((message) => {
      if (message.type === "logged-out") this.clear();
      // Another tab signed in (perhaps as someone else): take the session it started.
      if (message.type === "logged-in") void this.refresh().catch(() => undefined);
    });
  }

  /** The current state; the same object until it changes (for useSyncExternalStore). */
  getState = (): SessionState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  isAdmin(): boolean {
    return this.state.user?.roles.includes("admin") ?? false;
  }

  /** At start: sign back in from the refresh cookie if this browser had a session. */
  restore(): Promise<void> {
    this.restoring ??= (async () => {
      if (!this.deps.hint.get()) {
        this.setState({ status: "anonymous", user: null });
        return;
      }
      try {
        await this.refresh();
      } catch {
        // Nothing answered (or 429): anonymous for now; the flag stays for the next visit.
        if (this.state.status === "restoring") this.setState({ status: "anonymous", user: null });
      }
    })();
    return this.restoring;
  }

  /** Redeem the code of a sign-in (grant_type=authorization_code, PKCE); the answer. */
  async exchangeCode(code: string, verifier: string, redirectUri: string): Promise<TokenAnswer> {
    const response = await this.post(TOKEN_URL, {
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: redirectUri,
      client_id: CLIENT_ID,
    });
    if (!response.ok) throw await errorFromResponse(response, this.deps.now());
    const answer = (await response.json()) as TokenAnswer;
    this.accept(answer);
    this.deps.channel?.post({ type: "logged-in" });
    return answer;
  }

  /** A token valid for at least the margin, refreshed if need be; null when signed out. */
  async token(): Promise<string | null> {
    if (this.restoring) await this.restoring;
    if (!this.access) return null;
    if (this.deps.now() < this.expiresAt - this.margin()) return this.access;
    try {
      return await this.refresh();
    } catch (error) {
      // The refresh could not be made (offline, 429): the old token may still do.
      if (this.access && this.deps.now() < this.expiresAt) return this.access;
      throw error;
    }
  }

  /** A new access token from the refresh cookie; null (and signed out) when it is refused. */
  refresh(): Promise<string | null> {
    this.refreshing ??= this.deps
      .lock(() => this.refreshNow())
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  /** Revoke the session at auth (refresh family, access token, cookie), then forget it here. */
  async logout(): Promise<void> {
    try {
      const token = await this.token();
      if (token) {
        await this.deps.fetch(LOGOUT_URL, {
          method: "POST",
          headers: {
            Authorization: `Bearer ${token}`,
            "Content-Type": "application/x-www-form-urlencoded",
          },
          body: "",
          credentials: "same-origin",
        });
      }
    } catch {
      // Offline: still forget the token here; it expires within minutes anyway.
    }
    this.clear();
    this.deps.channel?.post({ type: "logged-out" });
  }

  /** Forget the token and the user (the server said the session is over). */
  clear(): void {
    this.access = null;
    this.expiresAt = 0;
    if (this.timer !== null) this.deps.clearTimer(this.timer);
    this.timer = null;
    this.deps.hint.set(false);
    if (this.state.status !== "anonymous" || this.state.user !== null) {
      this.setState({ status: "anonymous", user: null });
    }
  }

  private async refreshNow(): Promise<string | null> {
    let response: Response;
    try {
      response = await this.post(TOKEN_URL, { grant_type: "refresh_token" });
    } catch {
      throw networkError();
    }
    if (response.ok) {
      this.accept((await response.json()) as TokenAnswer);
      return this.access;
    }
    const error = await errorFromResponse(response, this.deps.now());
    if (response.status === 400 || response.status === 401) {
      // No cookie, or an expired, used or revoked one: the session is over.
      this.clear();
      return null;
    }
    this.scheduleRetry();
    throw error;
  }

  private accept(answer: TokenAnswer): void {
    const claims = decodeClaims(answer.access_token);
    this.access = answer.access_token;
    this.issuedAt = this.deps.now();
    // From expires_in, not `exp`: the browser's clock may be off; the interval is not.
    this.expiresAt = this.issuedAt + answer.expires_in * 1000;
    this.deps.hint.set(true);
    this.schedule(this.expiresAt - this.margin() - this.deps.now());
    this.setState({ status: "signed-in", user: { id: claims.sub, roles: claims.roles } });
  }

  private margin(): number {
    const lifetime = this.expiresAt - this.issuedAt;
    return Math.min(this.deps.refreshMarginMs ?? 60_000, lifetime / 5);
  }

  private schedule(delayMs: number): void {
    if (this.timer !== null) this.deps.clearTimer(this.timer);
    this.timer = this.deps.setTimer(
      () => {
        this.timer = null;
        this.refresh().catch(() => undefined); // refreshNow schedules its own retry
      },
      Math.max(0, delayMs),
    );
  }

  private scheduleRetry(): void {
    if (this.access && this.deps.now() < this.expiresAt) this.schedule(this.deps.retryMs ?? 10_000);
  }

  private post(url: string, params: Record<string, string>): Promise<Response> {
    return this.deps.fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        Accept: "application/json",
      },
      body: new URLSearchParams(params).toString(),
      credentials: "same-origin", // the refresh cookie
    });
  }

  private setState(state: SessionState): void {
    this.state = state;
    for (const listener of this.listeners) listener();
  }
}

/** The session's collaborators in a browser. */
export function browserSessionDeps(): SessionDeps {
  const HINT = "bazaar.signed-in";
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("bazaar-session") : null;
  return {
    fetch: (input, init) => fetch(input, init),
    now: () => Date.now(),
    setTimer: (callback, ms) => setTimeout(callback, ms),
    clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    hint: {
      get: () => {
        try {
          return localStorage.getItem(HINT) === "1";
        } catch {
          return true; // storage blocked: try the cookie anyway
        }
      },
      set: (signedIn) => {
        try {
          if (signedIn) localStorage.setItem(HINT, "1");
          else localStorage.removeItem(HINT);
        } catch {
          // storage blocked: every visit tries the cookie
        }
      },
    },
    lock: (task) =>
      typeof navigator !== "undefined" && navigator.locks
        ? (navigator.locks.request("bazaar-token-refresh", task) as ReturnType<typeof task>)
        : task(),
    channel: channel
      ? {
          post: (message) => channel.postMessage(message),
          listen: (handler) => {
            channel.onmessage = (event: MessageEvent<SessionMessage>) => handler(event.data);
          },
        }
      : undefined,
  };
}
