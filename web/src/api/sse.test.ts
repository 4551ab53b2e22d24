import { describe, expect, it } from "vitest";
import { type ServerSentEvent, SseParser, watchEvents } from "./sse";

function parse(...chunks: string[]) {
  const events: ServerSentEvent[] = [];
  const parser = new SseParser((event) => events.push(event));
  for (const chunk of chunks) parser.push(chunk);
  return { events, parser };
}

function stream(text: string): Response {
  return new Response(text, { headers: { "Content-Type": "text/event-stream" } });
}

describe("the event stream parser", () => {
  it("reads the orders stream: retry, id, event and data", () => {
    const { events, parser } = parse('retry: 2000\nid: 1\nevent: status\ndata: {"status":"PENDING"}\n\n');
    expect(events).toEqual([{ event: "status", data: '{"status":"PENDING"}', id: "1" }]);
    expect(parser.retryMs).toBe(2000);
  });

  it("joins an event split anywhere across chunks, with any line ending", () => {
    const { events } = parse("id: 2\r", "\nevent: sta", "tus\r\ndata: a\r\ndata: b\r\n", "\r\n");
    expect(events).toEqual([{ event: "status", data: "a\nb", id: "2" }]);
  });

  it("skips heartbeat comments and events without data", () => {
    const { events } = parse(": heartbeat\n\nevent: status\n\ndata: x\n\n");
    expect(events).toEqual([{ event: "message", data: "x", id: undefined }]);
  });

  it("waits for the blank line before it dispatches", () => {
    const { events } = parse("data: not yet\n");
    expect(events).toEqual([]);
  });
});

describe("following a stream", () => {
  it("reconnects after the server closes until the last state is final", async () => {
    const bodies = [
      'retry: 5\nid: 1\nevent: status\ndata: "PENDING"\n\n',
      'id: 2\nevent: status\ndata: "CONFIRMED"\n\n',
      'id: 3\nevent: status\ndata: "CANCELLED"\n\n',
    ];
    const seen: string[] = [];
    const waits: number[] = [];
    let opened = 0;

    await watchEvents(
      async () => stream(bodies[opened++]!),
      (event) => seen.push(JSON.parse(event.data) as string),
      {
        signal: new AbortController().signal,
        isDone: () => seen.at(-1) === "CANCELLED",
        sleep: async (ms) => void waits.push(ms),
      },
    );

    expect(seen).toEqual(["PENDING", "CONFIRMED", "CANCELLED"]);
    expect(opened).toBe(3);
    expect(waits).toEqual([5, 5]); // the server's retry
  });

  it("backs off while the stream keeps failing, and stops on an error not worth retrying", async () => {
    const waits: number[] = [];
    const errors: boolean[] = [];
    let opened = 0;

    await watchEvents(
      async () => {
        opened += 1;
        throw opened < 3 ? new Error("offline") : new Error("gone");
      },
      () => undefined,
      {
        signal: new AbortController().signal,
        isDone: () => false,
        isRetryable: (error) => (error as Error).message !== "gone",
        onError: (_, willRetry) => void errors.push(willRetry),
        sleep: async (ms) => void waits.push(ms),
        defaultRetryMs: 100,
      },
    );

    expect(waits).toEqual([200, 400]);
    expect(errors).toEqual([true, true, false]);
  });

  it("stops when aborted", async () => {
    const controller = new AbortController();
    let opened = 0;
    await watchEvents(
      async () => {
        opened += 1;
        controller.abort();
        return stream("data: x\n\n");
      },
      () => undefined,
      { signal: controller.signal, isDone: () => false, sleep: async () => undefined },
    );
    expect(opened).toBe(1);
  });
});
