/** The Node HTTP server for Hono apps (`@hono/node-server`), as the RuntimeEdge's `serveHttp`. */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { FetchHandler, HttpServerHandle } from "../../src/cli/runtime-edge.ts";
import { formatHostPort } from "../../src/net/addresses.ts";

export function serveHttp(fetch: FetchHandler, host: string, port: number): Promise<HttpServerHandle> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname: host, port }, (info: AddressInfo) => {
      resolve({
        addr: formatHostPort(info.address, info.port),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // long-lived responses (gateway config streams) would hold close() open forever
            if ("closeAllConnections" in server) server.closeAllConnections();
          }),
      });
    });
    server.once("error", reject);
  });
}
