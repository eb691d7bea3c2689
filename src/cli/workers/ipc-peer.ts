/**
 * Calls and notes over a worker's IPC channel, either way: `call` sends a request and resolves with the
 * other side's reply, `notify` sends without one. Messages are plain JSON, so a config, a metrics
 * snapshot or a count crosses as it is.
 */
type Wire =
  | { t: "call"; id: number; kind: string; body: unknown }
  | { t: "reply"; id: number; body?: unknown; error?: string }
  | { t: "note"; kind: string; body: unknown };

type Handler = (body: unknown) => unknown;

export class IpcPeer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private readonly handlers = new Map<string, Handler>();

  constructor(private readonly send: (message: Wire) => void) {}

  /** answers the other side's `call`s and `notify`s of `kind`; a throw or rejection goes back as an error */
  handle(kind: string, handler: Handler): void {
    this.handlers.set(kind, handler);
  }

  call(kind: string, body: unknown = null): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ t: "call", id, kind, body });
    });
  }

  notify(kind: string, body: unknown = null): void {
    this.send({ t: "note", kind, body });
  }

  /** feeds one message from the channel */
  receive(message: unknown): void {
    const m = message as Wire;
    if (m.t === "reply") {
      const waiting = this.pending.get(m.id);
      if (!waiting) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) waiting.reject(new Error(m.error));
      else waiting.resolve(m.body);
      return;
    }
    const handler = this.handlers.get(m.kind);
    if (m.t === "note") {
      handler?.(m.body);
      return;
    }
    const id = m.id;
    if (!handler) {
      this.send({ t: "reply", id, error: `no handler for '${m.kind}'` });
      return;
    }
    Promise.resolve()
      .then(() => handler(m.body))
      .then(
        (body) => this.send({ t: "reply", id, body: body ?? null }),
        (error: unknown) => this.send({ t: "reply", id, error: (error as Error).message }),
      );
  }

  /** the other side is gone: every call still waiting fails */
  close(reason: string): void {
    for (const waiting of this.pending.values()) waiting.reject(new Error(reason));
    this.pending.clear();
  }
}
