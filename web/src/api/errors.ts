// Every failed call becomes an ApiError whose `message` a person can read: the problem
// document's detail (RFC 9457), its field errors, or a sentence for the status.
import type { Problem } from "./types";

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  /** The problem's `type`, e.g. "/problems/out-of-stock"; "network" when nothing answered. */
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly fieldErrors: FieldError[];
  /** Seconds to wait before trying again (429 and 503 answers with Retry-After). */
  readonly retryAfter: number | undefined;
  readonly problem: Problem | undefined;

  constructor(init: {
    status: number;
    type: string;
    title: string;
    detail?: string | undefined;
    fieldErrors?: FieldError[];
    retryAfter?: number | undefined;
    problem?: Problem | undefined;
  }) {
    super(describe(init));
    this.name = "ApiError";
    this.status = init.status;
    this.type = init.type;
    this.title = init.title;
    this.detail = init.detail;
    this.fieldErrors = init.fieldErrors ?? [];
    this.retryAfter = init.retryAfter;
    this.problem = init.problem;
  }

  /** The problem type's last segment: "out-of-stock", "card-declined", "network"… */
  get slug(): string {
    return this.type.split("/").pop() ?? this.type;
  }

  /** Whether trying the same request again may succeed (nothing answered, or a 502-504). */
  get transient(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

const STATUS_SENTENCES: Record<number, string> = {
  400: "The request was not understood.",
  401: "Please log in again.",
  403: "You are not allowed to do that.",
  404: "Not found.",
  409: "That conflicts with the current state; reload and try again.",
  413: "That is too large.",
  422: "Some of the values are not valid.",
  500: "Something went wrong on our side. Please try again.",
  502: "The shop is having trouble right now. Please try again.",
  503: "The shop is having trouble right now. Please try again.",
  504: "The shop took too long to answer. Please try again.",
};

/** "card_number" → "Card number". */
export function humanField(field: string): string {
  const words = field.replace(/[_.]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function describe(init: {
  status: number;
  title: string;
  detail?: string | undefined;
  fieldErrors?: FieldError[];
  retryAfter?: number | undefined;
}): string {
  if (init.status === 429) {
    return init.retryAfter !== undefined
      ? `Too many requests: try again in ${init.retryAfter} s.`
      : "Too many requests: try again in a moment.";
  }
  // A validation problem's detail repeats its field errors in machine terms: say them instead.
  const fields = (init.fieldErrors ?? []).map((e) =>
    e.field ? `${humanField(e.field)}: ${tidy(e.message)}` : tidy(e.message),
  );
  if (fields.length) return fields.join(" ");
  return init.detail || init.title || STATUS_SENTENCES[init.status] || `Request failed (${init.status}).`;
}

/** Pydantic's "Value error, …" prefix says nothing to a customer; end with a full stop. */
function tidy(message: string): string {
  const text = message.replace(/^(Value|Assertion) error, /, "").trim();
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

/** Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterSeconds(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

function isProblem(body: unknown): body is Problem {
  return typeof body === "object" && body !== null && "status" in body && "title" in body;
}

/** The ApiError for a response that is not ok, from its problem document when it has one. */
export async function errorFromResponse(response: Response, now: number = Date.now()): Promise<ApiError> {
  const retryAfter = retryAfterSeconds(response.headers.get("Retry-After"), now);
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined; // an HTML error page from a proxy, or nothing at all
  }
  if (isProblem(body)) {
    const fieldErrors = (body.errors ?? [])
      .filter((e) => e.message)
      .map((e) => ({ field: e.field ?? "", message: e.message ?? "" }));
    return new ApiError({
      status: response.status,
      type: body.type ?? "about:blank",
      title: body.title,
      detail: typeof body.detail === "string" ? body.detail : undefined,
      fieldErrors,
      retryAfter,
      problem: body,
    });
  }
  // Not from a service (a proxy's HTML page, an empty body): say what the status means.
  return new ApiError({
    status: response.status,
    type: "about:blank",
    title: response.statusText || `HTTP ${response.status}`,
    detail: STATUS_SENTENCES[response.status],
    retryAfter,
  });
}

/** The error for a request that got no answer at all. */
export function networkError(): ApiError {
  return new ApiError({
    status: 0,
    type: "network",
    title: "No connection",
    detail: "Cannot reach the shop. Check your connection and try again.",
  });
}

/** Any thrown value as a sentence for the page. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error && error.name === "AbortError") return "Cancelled.";
  return "Something went wrong. Please try again.";
}
