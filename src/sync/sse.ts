/**
 * Reading Server-Sent Events from a `fetch` body, on `eventsource-parser` (the control plane writes them
 * with hono's `streamSSE`). What this adds: events come back as a list per chunk, with the browser's
 * default type (`message`), and a bound on how much text may pile up without completing an event, so a
 * broken or hostile peer cannot grow the gateway's memory without end.
 */
import { createParser, type EventSourceParser } from "eventsource-parser";

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export class SseReader {
  private readonly parser: EventSourceParser;
  private ready: SseEvent[] = [];
  private pending = 0;
  /** the last `id:` seen, kept across events as the spec says (what `Last-Event-ID` sends) */
  lastEventId: string | undefined;

  constructor(private readonly maxEventChars = 64 * 1024 * 1024) {
    this.parser = createParser({
      onEvent: (message) => {
        this.pending = 0;
        if (message.id !== undefined) this.lastEventId = message.id;
        this.ready.push({ id: message.id, event: message.event ?? "message", data: message.data });
      },
    });
  }

  /** feed decoded text as it arrives; returns the events it completed */
  push(text: string): SseEvent[] {
    this.pending += text.length;
    this.parser.feed(text);
    if (this.pending > this.maxEventChars) throw new Error("SSE event exceeds the size limit");
    const events = this.ready;
    this.ready = [];
    return events;
  }
}
