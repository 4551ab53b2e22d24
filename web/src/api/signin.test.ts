import { describe, expect, it } from "vitest";
import { Session } from "./session";
import { challengeOf, finishSignIn, signInUrl, type SignInDeps } from "./signin";
import { fakeDeps, fakeJwt, json, scriptedFetch } from "./testing";

function signInDeps(): SignInDeps & { stored: Map<string, string> } {
  const stored = new Map<string, string>();
  return {
    origin: "http://shop.test",
    crypto: globalThis.crypto,
    storage: {
      getItem: (key) => stored.get(key) ?? null,
      setItem: (key, value) => void stored.set(key, value),
      removeItem: (key) => void stored.delete(key),
    },
    stored,
  };
}

describe("signing in with the code flow", () => {
  it("computes the S256 challenge: base64url(SHA-256(verifier)) without padding", async () => {
    // The same value as Python's hashlib and base64.urlsafe_b64encode give (auth's side).
    expect(await challengeOf("dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk", signInDeps())).toBe(
      "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc",
    );
  });

  it("asks for a code with S256, state and nonce, and remembers them in this tab only", async () => {
    const deps = signInDeps();
    const url = new URL(await signInUrl("/cart", true, deps), "http://shop.test");

    expect(url.pathname).toBe("/api/auth/authorize");
    const query = url.searchParams;
    expect(query.get("client_id")).toBe("storefront");
    expect(query.get("redirect_uri")).toBe("http://shop.test/auth/callback");
    expect(query.get("code_challenge_method")).toBe("S256");
    expect(query.get("prompt")).toBe("create");
    const pending = JSON.parse([...deps.stored.values()][0]!) as Record<string, string>;
    expect(query.get("state")).toBe(pending.state);
    expect(query.get("nonce")).toBe(pending.nonce);
    expect(query.get("code_challenge")).toBe(await challengeOf(pending.verifier!, deps));
    expect(query.has("code_verifier")).toBe(false);
  });

  it("redeems the code when state, issuer and nonce match, and goes where the shopper was", async () => {
    const deps = signInDeps();
    const url = new URL(await signInUrl("/cart", false, deps), "http://shop.test");
    const { state, nonce } = Object.fromEntries(url.searchParams) as Record<string, string>;
    const answer = {
      access_token: fakeJwt({ sub: "user-1", roles: ["customer"] }),
      id_token: fakeJwt({ sub: "user-1", nonce }),
      expires_in: 900,
      scope: "openid email",
      token_type: "Bearer",
    };
    const { fetch, calls } = scriptedFetch({ "/api/auth/token": [json(answer)] });
    const session = new Session(fakeDeps(fetch, false).deps);
    const query = new URLSearchParams({ code: "c0de", state: state!, iss: "http://shop.test/api/auth" });

    expect(await finishSignIn(query, session, deps)).toBe("/cart");
    expect(calls[0]!.body).toContain("grant_type=authorization_code&code=c0de");
    expect(session.getState().status).toBe("signed-in");
    expect(deps.stored.size).toBe(0);
  });

  it.each([
    ["a state this tab did not make", { state: "forged" }],
    ["another issuer", { iss: "http://evil.test/api/auth" }],
    ["an error from auth", { error: "access_denied" }],
  ])("refuses %s without redeeming anything", async (_, changes) => {
    const deps = signInDeps();
    const url = new URL(await signInUrl("/", false, deps), "http://shop.test");
    const query = new URLSearchParams({
      code: "c0de",
      state: url.searchParams.get("state")!,
      iss: "http://shop.test/api/auth",
      ...changes,
    });
    const { fetch, calls } = scriptedFetch({});

    await expect(finishSignIn(query, new Session(fakeDeps(fetch, false).deps), deps)).rejects.toThrow();
    expect(calls).toEqual([]);
  });
});
