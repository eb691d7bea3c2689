/**
 * Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html), both
 * ways: the control plane frames config events, the gateway parses them from a `fetch` body. Only the
 * fields Sluice uses are handled: `id`, `event`, `data` (multi-line joined with `\n`) and comments.
 */

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export function formatSseEvent(event: { id?: string | number; event?: string; data: string }): string {
  let out = "";
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  for (const line of event.data.split("\n")) out += `data: ${line}\n`;
  return `${out}\n`;
}

export function formatSseComment(text: string): string {
  return `: ${text}\n\n`;
}

/** Incremental parser: feed decoded text as it arrives, get whole events back. */
export class SseParser {
  private buffer = "";
  private id: string | undefined;
  private event = "";
  private data: string[] = [];
  /** the last `id:` seen, kept across events as the spec says (for `Last-Event-ID`) */
  lastEventId: string | undefined;

  constructor(private readonly maxEventBytes = 64 * 1024 * 1024) {}

  push(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const nl = this.buffer.indexOf("\n", start);
      if (nl < 0) break;
      let line = this.buffer.slice(start, nl);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      start = nl + 1;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > this.maxEventBytes) throw new Error("SSE line exceeds the size limit");
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") {
      if (this.data.length === 0 && this.id === undefined) {
        this.event = "";
        return undefined;
      }
      const event: SseEvent = { id: this.id, event: this.event || "message", data: this.data.join("\n") };
      this.id = undefined;
      this.event = "";
      this.data = [];
      return event;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id") {
      this.id = value;
      this.lastEventId = value;
    }
    return undefined;
  }
}
