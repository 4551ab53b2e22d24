// Server-Sent Events over fetch. EventSource cannot send an Authorization header, and the
// access token must not go in a URL (logs, history) or a readable cookie; fetch streams the
// same text/event-stream with the header, through the gateway unchanged. This file parses
// the stream (WHATWG HTML §9.2) and reconnects the way EventSource would.

export interface ServerSentEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/** Feed it text as it arrives; it calls `onEvent` for each complete event. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | undefined;
  lastEventId: string | undefined;
  retryMs: number | undefined;
  private readonly onEvent: (event: ServerSentEvent) => void;

  constructor(onEvent: (event: ServerSentEvent) => void) {
    this.onEvent = onEvent;
  }

  push(chunk: string): void {
    this.buffer += chunk;
    // A line ends at \n, \r\n or \r; a lone \r at the end may be half of a \r\n.
    const pattern = /\r\n|\n|\r(?!$)/;
    let match = pattern.exec(this.buffer);
    while (match) {
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
      match = pattern.exec(this.buffer);
    }
  }

  private line(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) return; // a comment: the heartbeat
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
  }

  private dispatch(): void {
    if (this.id !== undefined) this.lastEventId = this.id;
    if (this.data.length) {
      this.onEvent({ event: this.event || "message", data: this.data.join("\n"), id: this.lastEventId });
    }
    this.data = [];
    this.event = "";
  }
}

export interface WatchOptions {
  signal: AbortSignal;
  /** Stop reconnecting once this says the stream has nothing more to tell. */
  isDone: () => boolean;
  /** Something went wrong; `willRetry` says whether it reconnects. */
  onError?: (error: unknown, willRetry: boolean) => void;
  /** Called when a (re)connection starts delivering. */
  onOpen?: () => void;
  /** Whether an error is worth reconnecting after (a 404 is not). */
  isRetryable?: (error: unknown) => boolean;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  defaultRetryMs?: number;
  maxRetryMs?: number;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Open the stream with `open` and pass each event on, reconnecting after the server's
 * `retry` when the stream ends or breaks, with backoff while it keeps failing, until
 * `isDone()` or the signal aborts.
 */
export async function watchEvents(
  open: (signal: AbortSignal) => Promise<Response>,
  onEvent: (event: ServerSentEvent) => void,
  options: WatchOptions,
): Promise<void> {
  const sleep = options.sleep ?? abortableSleep;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  let retryMs = options.defaultRetryMs ?? 2_000;
  let failures = 0;
  while (!options.signal.aborted && !options.isDone()) {
    const parser = new SseParser((event) => {
      failures = 0;
      onEvent(event);
    });
    try {
      const response = await open(options.signal);
      if (!response.body) throw new Error("the response has no body to stream");
      options.onOpen?.();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
          if (options.isDone()) break;
        }
      } finally {
        await reader.cancel().catch(() => undefined);
      }
      retryMs = parser.retryMs ?? retryMs;
    } catch (error) {
      if (options.signal.aborted) return;
      const retry = options.isRetryable?.(error) ?? true;
      options.onError?.(error, retry);
      if (!retry) return;
      failures += 1;
    }
    if (options.signal.aborted || options.isDone()) return;
    await sleep(Math.min(maxRetryMs, retryMs * 2 ** failures), options.signal);
  }
}
