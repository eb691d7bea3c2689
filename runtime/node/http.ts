/** The Node HTTP server for Hono apps (`@hono/node-server`), as the RuntimeEdge's `serveHttp`. */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { FetchHandler, HttpServerHandle } from "../../src/cli/runtime-edge.ts";

export function serveHttp(fetch: FetchHandler, host: string, port: number): Promise<HttpServerHandle> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname: host, port }, (info: AddressInfo) => {
      const shown = info.family === "IPv6" || info.address.includes(":") ? `[${info.address}]` : info.address;
      resolve({
        addr: `${shown}:${info.port}`,
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
