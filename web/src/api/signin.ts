// The storefront's side of the authorization code flow with PKCE (RFC 7636, S256).
//
// `signInUrl` makes a verifier, a state and a nonce, keeps them in sessionStorage (this tab
// only; never a token) and answers auth's /authorize URL. Auth's page takes the password
// and sends the browser back to /auth/callback with a code; `finishSignIn` checks the state
// and the issuer, redeems the code with the verifier and checks the ID token's nonce.
import type { Session } from "./session";
import { CLIENT_ID } from "./session";

export const AUTHORIZE_URL = "/api/auth/authorize";
export const CALLBACK_PATH = "/auth/callback";
const PENDING = "bazaar.sign-in";

interface Pending {
  state: string;
  verifier: string;
  nonce: string;
  next: string;
}

export interface SignInDeps {
  origin: string;
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  crypto: Crypto;
}

function browserDeps(): SignInDeps {
  return { origin: window.location.origin, storage: window.sessionStorage, crypto: window.crypto };
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(deps: SignInDeps, size: number): string {
  return base64url(deps.crypto.getRandomValues(new Uint8Array(size)));
}

/** The S256 challenge of a verifier. */
export async function challengeOf(verifier: string, deps: SignInDeps = browserDeps()): Promise<string> {
  const digest = await deps.crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export function redirectUri(deps: SignInDeps = browserDeps()): string {
  return deps.origin + CALLBACK_PATH;
}

/** Where to send the browser to sign in (`register`: auth's registration form). */
export async function signInUrl(
  next: string,
  register: boolean,
  deps: SignInDeps = browserDeps(),
): Promise<string> {
  const pending: Pending = {
    state: random(deps, 16),
    verifier: random(deps, 32),
    nonce: random(deps, 16),
    next,
  };
  deps.storage.setItem(PENDING, JSON.stringify(pending));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: redirectUri(deps),
    scope: "openid email",
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await challengeOf(pending.verifier, deps),
    code_challenge_method: "S256",
  });
  if (register) params.set("prompt", "create");
  return `${AUTHORIZE_URL}?${params.toString()}`;
}

function claimsOf(jwt: string): Record<string, unknown> {
  const payload = (jwt.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/");
  const padded = payload + "=".repeat((4 - (payload.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}

/** Complete a sign-in from the callback's query; where the shopper was going. */
export async function finishSignIn(
  query: URLSearchParams,
  session: Session,
  deps: SignInDeps = browserDeps(),
): Promise<string> {
  const stored = deps.storage.getItem(PENDING);
  deps.storage.removeItem(PENDING); // one attempt per sign-in, whatever happens
  const pending = stored ? (JSON.parse(stored) as Pending) : null;
  if (!pending || query.get("state") !== pending.state) {
    throw new Error("This sign-in was not started here or has expired. Please log in again.");
  }
  const error = query.get("error");
  if (error) throw new Error(query.get("error_description") ?? `Sign-in failed (${error}).`);
  // RFC 9207: the answer must come from Bazaar's own auth, not another server.
  if (query.get("iss") !== `${deps.origin}/api/auth`)
    throw new Error("The sign-in answer came from elsewhere.");
  const code = query.get("code");
  if (!code) throw new Error("The sign-in answer has no code. Please log in again.");
  const answer = await session.exchangeCode(code, pending.verifier, redirectUri(deps));
  if (!answer.id_token || claimsOf(answer.id_token).nonce !== pending.nonce) {
    session.clear();
    throw new Error("The sign-in answer does not belong to this sign-in. Please log in again.");
  }
  return pending.next;
}
