/** The admin API and status endpoints on `Deno.serve`. */
import type { FetchHandler, HttpServerHandle } from "../../src/cli/runtime-edge.ts";
import { formatHostPort } from "../../src/net/addresses.ts";

/** First and longest wait before `Deno.serve` listens again after its accept loop failed. */
const RESTART_DELAY_MS = 50;
const MAX_RESTART_DELAY_MS = 1000;

/**
 * `Deno.serve` ends its accept loop on the first failed accept (EMFILE when the process is at its fd limit),
 * rejecting `finished`; left alone that rejection is uncaught and exits the process. So a server whose
 * loop failed listens again on the same address, retrying with a growing delay until an fd is free:
 * connections are refused meanwhile, as the kernel does when the accept queue is full, and the server
 * answers again once descriptors are released.
 */
export function serveHttpWithDeno(fetch: FetchHandler, host: string, port: number): Promise<HttpServerHandle> {
  let current: Deno.HttpServer | undefined;
  let closing = false;
  let boundPort = port;
  let delay = RESTART_DELAY_MS;

  const onError = (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    return Response.json({ error_msg: `internal error: ${message}` }, { status: 500 });
  };

  const serve = (onListen: (address: Deno.NetAddr) => void): void => {
    const server = Deno.serve(
      {
        hostname: host,
        port: boundPort,
        // The default onListen prints "Listening on …" to stdout, which would break the JSON log stream.
        onListen(address) {
          boundPort = address.port;
          delay = RESTART_DELAY_MS;
          onListen(address);
        },
        onError,
      },
      (request, info) => fetch(request, { clientAddress: info.remoteAddr.hostname }),
    );
    current = server;
    server.finished.catch(() => {
      if (!closing) setTimeout(restart, delay);
    });
  };

  const restart = (): void => {
    if (closing) return;
    try {
      serve(() => {});
    } catch {
      delay = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
      setTimeout(restart, delay);
    }
  };

  return new Promise<HttpServerHandle>((resolve, reject) => {
    try {
      serve((address) => {
        const addr = formatHostPort(address.hostname, address.port);
        resolve({
          addr,
          close: async () => {
            closing = true;
            await current?.shutdown();
          },
        });
      });
    } catch (error) {
      reject(error);
    }
  });
}
