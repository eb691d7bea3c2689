/**
 * Gateway → control plane heartbeats (`POST /api/gateway/heartbeat`, every ~10 s): identity, the
 * config version served, the last apply failure, listener states and node health. Sent to the control
 * plane the config stream is connected to, else to the next URL in turn.
 */
import type { Logger } from "pino";
import { GROUP_HEADER, HEARTBEAT_INTERVAL_MS, HEARTBEAT_PATH, type HeartbeatBody, TOKEN_HEADER } from "./protocol.ts";

export interface HeartbeatOptions {
  urls: string[];
  group: string;
  token: string;
  logger: Logger;
  body(): HeartbeatBody;
  /** the control plane the config stream is open to, preferred when set */
  preferredUrl(): string | undefined;
  intervalMs?: number;
}

export class HeartbeatSender {
  private timer: ReturnType<typeof setInterval> | undefined;
  private next = 0;
  private inFlight: Promise<boolean> | undefined;
  private refusedLogged = false;

  constructor(private readonly options: HeartbeatOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.sendNow(), this.options.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** one heartbeat now (coalesced with one in flight); true when a control plane accepted it */
  sendNow(): Promise<boolean> {
    this.inFlight ??= this.send().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async send(): Promise<boolean> {
    const { urls, logger } = this.options;
    const preferred = this.options.preferredUrl();
    const order = preferred
      ? [preferred, ...urls.filter((u) => u.replace(/\/+$/, "") !== preferred)]
      : rotate(urls, this.next++);
    const body = JSON.stringify(this.options.body());
    for (const url of order) {
      try {
        const response = await fetch(`${url.replace(/\/+$/, "")}${HEARTBEAT_PATH}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            [TOKEN_HEADER]: this.options.token,
            [GROUP_HEADER]: this.options.group,
          },
          body,
          signal: AbortSignal.timeout(5_000),
        });
        await response.body?.cancel().catch(() => {});
        if (response.ok) {
          this.refusedLogged = false;
          return true;
        }
        if (response.status === 401 && !this.refusedLogged) {
          this.refusedLogged = true;
          logger.error({ control_plane: url, status: 401 }, "control plane refused the heartbeat token");
        }
      } catch {
        // unreachable: try the next control plane; the stream client logs reachability
      }
    }
    return false;
  }
}

function rotate<T>(list: T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
