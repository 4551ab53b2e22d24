// Helpers for the unit tests: a scripted fetch and a fake clock.
import type { SessionDeps } from "./session";

export interface Call {
  url: string;
  init: RequestInit;
  headers: Record<string, string>;
  body: string | undefined;
}

type Reply = Response | (() => Response | Promise<Response>) | Error;

/** A fetch that answers from a queue per URL prefix and records every call. */
export function scriptedFetch(routes: Record<string, Reply[]>) {
  const calls: Call[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    calls.push({ url, init, headers, body: init.body === undefined ? undefined : String(init.body) });
    const prefix = Object.keys(routes)
      .filter((p) => url.startsWith(p))
      .sort((a, b) => b.length - a.length)[0];
    const queue = prefix === undefined ? undefined : routes[prefix];
    const reply = queue?.length ? (queue.length > 1 ? queue.shift() : queue[0]) : undefined;
    if (reply === undefined) throw new Error(`unexpected fetch ${url}`);
    if (reply instanceof Error) throw reply;
    return typeof reply === "function" ? reply() : reply.clone();
  }) as typeof fetch;
  return { fetch: fetchImpl, calls };
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function problem(
  status: number,
  slug: string,
  fields: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ type: `/problems/${slug}`, title: slug, status, ...fields }), {
    status,
    headers: { "Content-Type": "application/problem+json", ...headers },
  });
}

function base64url(text: string): string {
  const binary = Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join("");
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** An unsigned JWT-shaped token with these claims (the app never verifies signatures). */
export function fakeJwt(claims: Record<string, unknown>): string {
  return `${base64url(JSON.stringify({ alg: "EdDSA", typ: "at+jwt" }))}.${base64url(JSON.stringify(claims))}.c2ln`;
}

export function tokenAnswer(sub = "user-1", roles: string[] = ["customer"], expiresIn = 900) {
  return json({
    access_token: fakeJwt({ sub, roles, exp: 2_000_000_000 }),
    token_type: "Bearer",
    expires_in: expiresIn,
    scope: "",
  });
}

/** Session collaborators with a manual clock and timers. */
export function fakeDeps(fetchImpl: typeof fetch, signedInBefore = false) {
  let now = 1_700_000_000_000;
  let hint = signedInBefore;
  const timers = new Map<number, { at: number; callback: () => void }>();
  let nextTimer = 1;
  const deps: SessionDeps = {
    fetch: fetchImpl,
    now: () => now,
    setTimer: (callback, ms) => {
      const id = nextTimer++;
      timers.set(id, { at: now + ms, callback });
      return id;
    },
    clearTimer: (handle) => timers.delete(handle as number),
    hint: { get: () => hint, set: (value) => (hint = value) },
    lock: (task) => task(),
  };
  return {
    deps,
    hint: () => hint,
    timers,
    /** Move the clock on and run the timers that came due. */
    async advance(ms: number) {
      now += ms;
      for (const [id, timer] of [...timers]) {
        if (timer.at <= now) {
          timers.delete(id);
          timer.callback();
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
  };
}
