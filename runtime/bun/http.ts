/** The admin API and status endpoints on `Bun.serve`. */
/// <reference path="./bun-api.d.ts" />
import type { FetchHandler, HttpServerHandle } from "../../src/cli/runtime-edge.ts";
import { formatHostPort } from "../../src/net/addresses.ts";

export async function serveHttpWithBun(fetch: FetchHandler, host: string, port: number): Promise<HttpServerHandle> {
  const server = Bun.serve({
    hostname: host,
    port,
    // Bun closes a connection idle for 10 s by default: that would cut the control plane's SSE config
    // stream to the gateways between events. 0 turns the idle timeout off.
    idleTimeout: 0,
    fetch,
    error(error) {
      return Response.json({ error_msg: `internal error: ${error.message}` }, { status: 500 });
    },
  });
  const boundHost = server.hostname ?? host;
  const addr = formatHostPort(boundHost, server.port ?? port);
  return {
    addr,
    close: () => server.stop(true),
  };
}
