/**
 * Active `tcp` check, as APISIX's: the node is up when a TCP connection opens within `timeout`; for a
 * TLS upstream, when the TLS handshake (with the upstream's verify, CA and client certificate) completes.
 */
import type { CompiledUpstreamTls } from "../../config/types.ts";
import type { SocketAdapter } from "../adapter.ts";
import { timerDelay } from "../timer-delay.ts";
import { upstreamTlsOptions } from "../upstream-tls.ts";
import type { ProbeOutcome } from "./node-state.ts";
import type { ActiveProbe } from "./probe.ts";

export class TcpProbe implements ActiveProbe {
  constructor(
    private readonly adapter: SocketAdapter,
    private readonly timeoutMs: number,
    private readonly tls?: CompiledUpstreamTls,
  ) {}

  async probe(host: string, port: number): Promise<ProbeOutcome> {
    try {
      const target = { host, port, timeoutMs: timerDelay(this.timeoutMs) };
      const connection = this.tls
        ? await this.adapter.connectTls(target, upstreamTlsOptions(this.tls, host, undefined))
        : await this.adapter.connectTcp(target);
      // Handlers must be set before destroy so the adapter can deliver `onClose` and free the socket.
      connection.setHandlers({ onData() {}, onEnd() {}, onDrain() {}, onClose() {} });
      connection.destroy();
      return "ok";
    } catch (error) {
      return (error as { code?: string }).code === "ETIMEDOUT" ? "timeout" : "failure";
    }
  }
}
