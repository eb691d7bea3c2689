/** Active `tcp` check, as APISIX's: the node is up when a TCP connection opens within `timeout`. */
import type { SocketAdapter } from "../adapter.ts";
import { timerDelay } from "../timer-delay.ts";
import type { ProbeOutcome } from "./node-state.ts";
import type { ActiveProbe } from "./probe.ts";

export class TcpProbe implements ActiveProbe {
  constructor(
    private readonly adapter: SocketAdapter,
    private readonly timeoutMs: number,
  ) {}

  async probe(host: string, port: number): Promise<ProbeOutcome> {
    try {
      const connection = await this.adapter.connectTcp({ host, port, timeoutMs: timerDelay(this.timeoutMs) });
      // Handlers must be set before destroy so the adapter can deliver `onClose` and free the socket.
      connection.setHandlers({ onData() {}, onEnd() {}, onDrain() {}, onClose() {} });
      connection.destroy();
      return "ok";
    } catch (error) {
      return (error as { code?: string }).code === "ETIMEDOUT" ? "timeout" : "failure";
    }
  }
}
