// The one fetch wrapper: JSON in and out, the access token attached, a 401 answered by one
// refresh and one retry, and every failure turned into an ApiError with a readable message.
import { ApiError, errorFromResponse, networkError } from "./errors";
import type { Session } from "./session";

export type QueryValue = string | number | boolean | null | undefined;

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  query?: Record<string, QueryValue> | undefined;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** `path?a=1&b=x`, leaving out empty values. */
export function withQuery(path: string, query?: Record<string, QueryValue>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export class HttpClient {
  private readonly session: Session;
  private readonly fetchImpl: typeof fetch;

  constructor(session: Session, fetchImpl: typeof fetch = (input, init) => fetch(input, init)) {
    this.session = session;
    this.fetchImpl = fetchImpl;
  }

  /** The decoded JSON answer (undefined for 204), or an ApiError. */
  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(path, options);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** The successful response itself (for streams), or an ApiError. */
  async send(path: string, options: RequestOptions = {}): Promise<Response> {
    const url = withQuery(path, options.query);
    const token = await this.session.token();
    let response = await this.attempt(url, options, token);
    if (response.status === 401 && token) {
      // Revoked or expired early: the gateway refused before any service acted, so one
      // retry with a fresh token is safe for every method.
      const fresh = await this.session.refresh().catch(() => null);
      if (fresh === null) {
        this.session.clear();
        throw new ApiError({
          status: 401,
          type: "/problems/unauthorized",
          title: "Signed out",
          detail: "Your session has ended. Please log in again.",
        });
      }
      response = await this.attempt(url, options, fresh);
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  private async attempt(url: string, options: RequestOptions, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      return await this.fetchImpl(url, {
        method: options.method ?? "GET",
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: options.signal,
        credentials: "same-origin",
      });
    } catch (error) {
      if (error instanceof Error && error.name === "AbortError") throw error;
      throw networkError();
    }
  }
}
