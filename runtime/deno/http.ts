/** The admin API and status endpoints on `Deno.serve`. */
import type { FetchHandler, HttpServerHandle } from "../../src/cli/runtime-edge.ts";
import { formatHostPort } from "../../src/net/addresses.ts";

export function serveHttpWithDeno(fetch: FetchHandler, host: string, port: number): Promise<HttpServerHandle> {
  return new Promise<HttpServerHandle>((resolve, reject) => {
    try {
      const server = Deno.serve(
        {
          hostname: host,
          port,
          // The default onListen prints "Listening on …" to stdout, which would break the JSON log stream.
          onListen(address) {
            const addr = formatHostPort(address.hostname, address.port);
            resolve({ addr, close: () => server.shutdown() });
          },
          onError(error) {
            const message = error instanceof Error ? error.message : String(error);
            return Response.json({ error_msg: `internal error: ${message}` }, { status: 500 });
          },
        },
        fetch,
      );
    } catch (error) {
      reject(error);
    }
  });
}
