/**
 * The gateway's SSE reader (src/sync/sse.ts, on eventsource-parser) against what the control plane
 * writes (hono's streamSSE), and against the framing corners a proxy or a slow link produces: events
 * split across chunks anywhere, CRLF line ends, comments, multi-line data, `retry:` lines.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { SseReader } from "../../src/sync/sse.ts";

test("an event split at every possible byte still arrives once, whole", () => {
  const text = 'retry: 1000\n\n: keepalive\n\nid: 7\ndata: {"version":7}\n\n';
  for (let cut = 1; cut < text.length; cut++) {
    const reader = new SseReader();
    const events = [...reader.push(text.slice(0, cut)), ...reader.push(text.slice(cut))];
    assert.deepEqual(events, [{ id: "7", event: "message", data: '{"version":7}' }], `cut at ${cut}`);
    assert.equal(reader.lastEventId, "7");
  }
});

test("CRLF line ends, named events, multi-line data and comments", () => {
  const reader = new SseReader();
  const events = reader.push(": hello\r\nevent: config\r\nid: 3\r\ndata: a\r\ndata: b\r\n\r\ndata: plain\r\n\r\n");
  assert.deepEqual(events, [
    { id: "3", event: "config", data: "a\nb" },
    { id: undefined, event: "message", data: "plain" },
  ]);
  assert.equal(reader.lastEventId, "3", "the last id is kept for Last-Event-ID");
});

test("text that never completes an event is cut off at the limit", () => {
  const reader = new SseReader(1024);
  reader.push(`data: ${"x".repeat(500)}`);
  assert.throws(() => reader.push("x".repeat(600)), /size limit/);
});

test("reads what hono's streamSSE writes, as the control plane sends it", async () => {
  const config = { version: 12, services: [{ id: "s", name: "multi\nline" }] };
  const app = new Hono().get("/stream", (c) =>
    streamSSE(c, async (stream) => {
      await stream.write("retry: 1000\n\n");
      await stream.write(": keepalive\n\n");
      await stream.writeSSE({ id: "12", data: JSON.stringify(config, null, 2) });
    }),
  );
  const res = await app.request("/stream");
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const reader = new SseReader();
  const decoder = new TextDecoder();
  const events = [];
  for await (const chunk of res.body!) events.push(...reader.push(decoder.decode(chunk, { stream: true })));
  assert.equal(events.length, 1);
  assert.equal(events[0]!.id, "12");
  assert.deepEqual(JSON.parse(events[0]!.data), config, "pretty-printed JSON survives the data: lines");
});
