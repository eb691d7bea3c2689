/**
 * The admin API and status endpoints on `Bun.serve`. Its accept loop spins a core while the fd table is
 * full, so the server stops listening at the fd limit and listens again on the same port once fds are
 * free (runtime/node/fd-limit-pause.ts); requests in flight carry on meanwhile.
 */
/// <reference path="./bun-api.d.ts" />
import type { FetchHandler, HttpServerHandle } from "../../src/cli/runtime-edge.ts";
import { formatHostPort } from "../../src/net/addresses.ts";
import { processFdLimitPause } from "../node/fd-limit-pause.ts";

export async function serveHttpWithBun(fetch: FetchHandler, host: string, port: number): Promise<HttpServerHandle> {
  const serve = (on: number) =>
    Bun.serve({
      hostname: host,
      port: on,
      // Bun closes a connection idle for 10 s by default: that would cut the control plane's SSE config
      // stream to the gateways between events. 0 turns the idle timeout off.
      idleTimeout: 0,
      fetch: (request, server) => fetch(request, { clientAddress: server.requestIP(request)?.address ?? "unknown" }),
      error(error) {
        return Response.json({ error_msg: `internal error: ${error.message}` }, { status: 500 });
      },
    });
  const first = serve(port);
  const boundHost = first.hostname ?? host;
  const boundPort = first.port ?? port;
  const addr = formatHostPort(boundHost, boundPort);
  // every server this handle started: a paused one still finishes its requests and is closed with the rest
  const servers = new Set([first]);
  let listening: typeof first | undefined = first;
  let closed = false;
  const unwatch = processFdLimitPause.watch({
    pause() {
      // stop(false): stop listening, let requests in flight (SSE streams) finish
      listening?.stop(false);
      listening = undefined;
    },
    async resume() {
      if (closed || listening) return;
      listening = serve(boundPort);
      servers.add(listening);
    },
  });
  return {
    addr,
    close: async () => {
      closed = true;
      unwatch();
      await Promise.all([...servers].map((s) => s.stop(true)));
    },
  };
}
