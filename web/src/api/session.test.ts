import { describe, expect, it } from "vitest";
import { decodeClaims, Session } from "./session";
import { fakeDeps, fakeJwt, json, problem, scriptedFetch, tokenAnswer } from "./testing";

describe("the session", () => {
  it("redeems a sign-in's code with its PKCE verifier and keeps the token in memory only", async () => {
    const { fetch, calls } = scriptedFetch({
      "/api/auth/token": [tokenAnswer("user-9", ["customer", "admin"])],
    });
    const fake = fakeDeps(fetch);
    const session = new Session(fake.deps);
    await session.restore();

    await session.exchangeCode("a-code", "a-verifier", "http://shop.test/auth/callback");

    expect(calls[0]!.body).toBe(
      "grant_type=authorization_code&code=a-code&code_verifier=a-verifier" +
        "&redirect_uri=http%3A%2F%2Fshop.test%2Fauth%2Fcallback&client_id=storefront",
    );
    expect(calls[0]!.init.credentials).toBe("same-origin");
    expect(session.getState()).toEqual({
      status: "signed-in",
      user: { id: "user-9", roles: ["customer", "admin"] },
    });
    expect(session.isAdmin()).toBe(true);
    expect(fake.hint()).toBe(true); // a flag, never the token
    expect(await session.token()).toMatch(/^ey/);
  });

  it("does not call the token endpoint on a visit by someone who never signed in", async () => {
    const { fetch, calls } = scriptedFetch({});
    const session = new Session(fakeDeps(fetch, false).deps);

    await session.restore();

    expect(calls).toEqual([]);
    expect(session.getState().status).toBe("anonymous");
    expect(await session.token()).toBeNull();
  });

  it("signs back in after a reload from the refresh cookie, sending no token in the body", async () => {
    const { fetch, calls } = scriptedFetch({ "/api/auth/token": [tokenAnswer("user-3")] });
    const session = new Session(fakeDeps(fetch, true).deps);

    await session.restore();

    expect(session.getState().user?.id).toBe("user-3");
    expect(calls).toHaveLength(1);
    expect(calls[0]!.body).toBe("grant_type=refresh_token");
    expect(calls[0]!.init.credentials).toBe("same-origin");
  });

  it("ends up anonymous, and forgets the flag, when the cookie is refused", async () => {
    const { fetch } = scriptedFetch({ "/api/auth/token": [problem(400, "invalid-grant")] });
    const fake = fakeDeps(fetch, true);
    const session = new Session(fake.deps);

    await session.restore();

    expect(session.getState().status).toBe("anonymous");
    expect(fake.hint()).toBe(false);
  });

  it("keeps the flag when the refresh could not be made (offline), to try on the next visit", async () => {
    const { fetch } = scriptedFetch({ "/api/auth/token": [new TypeError("Failed to fetch")] });
    const fake = fakeDeps(fetch, true);
    const session = new Session(fake.deps);

    await session.restore();

    expect(session.getState().status).toBe("anonymous");
    expect(fake.hint()).toBe(true);
  });

  it("refreshes silently a minute before the token expires", async () => {
    const first = fakeJwt({ sub: "u", roles: [] });
    const { fetch, calls } = scriptedFetch({
      "/api/auth/token": [json({ access_token: first, expires_in: 900, scope: "" }), tokenAnswer("u")],
    });
    const fake = fakeDeps(fetch);
    const session = new Session(fake.deps);
    await session.restore();
    await session.exchangeCode("a-code", "a-verifier", "http://shop.test/auth/callback");

    await fake.advance(838_000);
    expect(calls).toHaveLength(1);
    await fake.advance(2_000); // 840 s: 60 s before expiry

    expect(calls).toHaveLength(2);
    expect(calls[1]!.body).toBe("grant_type=refresh_token");
    expect(await session.token()).not.toBe(first);
  });

  it("refreshes before answering token() when the token is about to expire", async () => {
    const { fetch, calls } = scriptedFetch({
      "/api/auth/token": [tokenAnswer("u", [], 100), tokenAnswer("u")],
    });
    const fake = fakeDeps(fetch);
    const session = new Session(fake.deps);
    await session.restore();
    await session.exchangeCode("a-code", "a-verifier", "http://shop.test/auth/callback");
    fake.timers.clear(); // as if the tab slept through its timer

    await fake.advance(90_000); // margin: a fifth of 100 s
    await session.token();

    expect(calls.map((c) => c.body?.split("&")[0])).toEqual([
      "grant_type=authorization_code",
      "grant_type=refresh_token",
    ]);
  });

  it("makes one refresh call however many callers need one", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { fetch, calls } = scriptedFetch({
      "/api/auth/token": [
        async () => {
          await gate;
          return tokenAnswer("u");
        },
      ],
    });
    const session = new Session(fakeDeps(fetch, true).deps);

    const all = Promise.all([session.refresh(), session.refresh(), session.restore(), session.token()]);
    release();
    await all;

    expect(calls).toHaveLength(1); // a second use of one refresh token would revoke the family
  });

  it("keeps a still-valid token and retries later when a refresh fails for a while", async () => {
    const { fetch, calls } = scriptedFetch({
      "/api/auth/token": [
        tokenAnswer("u"),
        problem(503, "service-unavailable", {}, { "Retry-After": "1" }),
        problem(503, "service-unavailable", {}, { "Retry-After": "1" }),
        tokenAnswer("u"),
      ],
    });
    const fake = fakeDeps(fetch);
    const session = new Session(fake.deps);
    await session.restore();
    await session.exchangeCode("a-code", "a-verifier", "http://shop.test/auth/callback");

    await fake.advance(840_000); // the scheduled refresh fails…
    expect(session.getState().status).toBe("signed-in");
    expect(await session.token()).not.toBeNull(); // its own refresh fails too: the old token
    await fake.advance(10_000); // …and is tried again

    expect(calls).toHaveLength(4);
    expect(session.getState().status).toBe("signed-in");
  });

  it("logs out at auth with the token, then forgets it", async () => {
    const { fetch, calls } = scriptedFetch({
      "/api/auth/token": [tokenAnswer("u")],
      "/api/auth/logout": [new Response(null, { status: 204 })],
    });
    const fake = fakeDeps(fetch);
    const session = new Session(fake.deps);
    await session.restore();
    await session.exchangeCode("a-code", "a-verifier", "http://shop.test/auth/callback");

    await session.logout();

    const logout = calls.at(-1)!;
    expect(logout.url).toBe("/api/auth/logout");
    expect(logout.headers.authorization).toMatch(/^Bearer /);
    expect(logout.init.credentials).toBe("same-origin"); // so auth revokes the cookie's family
    expect(session.getState()).toEqual({ status: "anonymous", user: null });
    expect(await session.token()).toBeNull();
    expect(fake.hint()).toBe(false);
    expect(fake.timers.size).toBe(0); // no refresh left scheduled
  });

  it("forgets the session even when the logout call fails", async () => {
    const { fetch } = scriptedFetch({
      "/api/auth/token": [tokenAnswer("u")],
      "/api/auth/logout": [new TypeError("Failed to fetch")],
    });
    const session = new Session(fakeDeps(fetch).deps);
    await session.restore();
    await session.exchangeCode("a-code", "a-verifier", "http://shop.test/auth/callback");

    await session.logout();

    expect(session.getState().status).toBe("anonymous");
  });

  it("tells a listener about every change", async () => {
    const { fetch } = scriptedFetch({ "/api/auth/token": [tokenAnswer("u")] });
    const session = new Session(fakeDeps(fetch).deps);
    const seen: string[] = [];
    session.subscribe(() => seen.push(session.getState().status));

    await session.restore();
    await session.exchangeCode("a-code", "a-verifier", "http://shop.test/auth/callback");
    session.clear();

    expect(seen).toEqual(["anonymous", "signed-in", "anonymous"]);
  });

  it("reads sub and roles from a token, including non-ASCII claims", () => {
    const token = fakeJwt({ sub: "ü-1", roles: ["admin"], exp: 5 });
    expect(decodeClaims(token)).toEqual({ sub: "ü-1", roles: ["admin"], exp: 5 });
  });
});
