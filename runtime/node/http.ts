/**
 * Node's HTTP servers as the RuntimeEdge's `serveHttp` (Hono apps through `@hono/node-server`) and
 * `serveStatus` (a plain handler on `node:http`). `@hono/node-server` is loaded on the first `serveHttp`:
 * loading it touches the global `Request`, which loads undici, and a data plane serves only status.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FetchHandler, HttpServerHandle } from "../../src/cli/runtime-edge.ts";
import { formatHostPort } from "../../src/net/addresses.ts";
import type { PlainHandler } from "../../src/observability/status-app.ts";

function handleOf(server: Server, info: AddressInfo): HttpServerHandle {
  return {
    addr: formatHostPort(info.address, info.port),
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        // long-lived responses (gateway config streams) would hold close() open forever
        server.closeAllConnections();
      }),
  };
}

export async function serveHttp(fetch: FetchHandler, host: string, port: number): Promise<HttpServerHandle> {
  const { serve } = await import("@hono/node-server");
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        // `@hono/node-server` passes the Node request as `env`; the app gets the client's address only
        fetch: (request, env: { incoming?: { socket?: { remoteAddress?: string } } }) =>
          fetch(request, { clientAddress: env.incoming?.socket?.remoteAddress ?? "unknown" }),
        hostname: host,
        port,
      },
      (info: AddressInfo) => {
        resolve(handleOf(server as Server, info));
      },
    );
    server.once("error", reject);
  });
}

export function serveStatus(handler: PlainHandler, host: string, port: number): Promise<HttpServerHandle> {
  return new Promise((resolve, reject) => {
    const server = createServer((request, response) => {
      const url = request.url ?? "/";
      const query = url.indexOf("?");
      handler(request.method ?? "GET", query < 0 ? url : url.slice(0, query)).then(
        (answer) => {
          response.writeHead(answer.status, { "content-type": answer.contentType });
          response.end(request.method === "HEAD" ? undefined : answer.body);
        },
        (error: Error) => {
          response.writeHead(500, { "content-type": "application/json" });
          response.end(JSON.stringify({ error_msg: `internal error: ${error.message}` }));
        },
      );
    });
    server.once("error", reject);
    server.listen({ host, port }, () => resolve(handleOf(server, server.address() as AddressInfo)));
  });
}
