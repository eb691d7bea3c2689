/**
 * Active `udp` check (a Sluice extension; APISIX has none): send `active.udp.send` to the node and wait
 * for a reply within `timeout`. No reply counts as a timeout; a reply without the `expect` bytes (when
 * set) counts as a failure. A fresh ephemeral socket per probe keeps stray replies of an earlier probe
 * from being taken for this one's.
 */
import { Buffer } from "node:buffer";
import type { SocketAdapter, UdpSocket } from "../adapter.ts";
import { timerDelay } from "../timer-delay.ts";
import type { ProbeOutcome } from "./node-state.ts";
import type { ActiveProbe } from "./probe.ts";

export interface UdpProbeConfig {
  send: string;
  expect?: string;
  encoding: "utf8" | "hex";
}

export class UdpProbe implements ActiveProbe {
  private readonly payload: Uint8Array;
  private readonly expected: Buffer | undefined;

  constructor(
    private readonly adapter: SocketAdapter,
    private readonly timeoutMs: number,
    config: UdpProbeConfig,
  ) {
    this.payload = Buffer.from(config.send, config.encoding);
    this.expected = config.expect === undefined ? undefined : Buffer.from(config.expect, config.encoding);
  }

  probe(host: string, port: number): Promise<ProbeOutcome> {
    return new Promise((resolve) => {
      let socket: UdpSocket | undefined;
      let done = false;
      const finish = (outcome: ProbeOutcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket?.close();
        resolve(outcome);
      };
      const timer = setTimeout(() => finish("timeout"), timerDelay(this.timeoutMs));
      const bindHost = host.includes(":") ? "::" : "0.0.0.0";
      this.adapter
        .bindUdp(
          { host: bindHost, port: 0 },
          (data) => {
            const expected = this.expected;
            finish(expected === undefined || Buffer.from(data).includes(expected) ? "ok" : "failure");
          },
          // a refused probe (ICMP port unreachable, where the runtime reports it) fails at once
          () => finish("failure"),
        )
        .then(
          (bound) => {
            socket = bound;
            if (done) bound.close();
            else bound.send(this.payload, port, host);
          },
          () => finish("failure"),
        );
    });
  }
}
