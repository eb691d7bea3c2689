/**
 * What a runtime entry point (`runtime/<name>/main.ts`) hands to the CLI: its socket adapter for the
 * data plane and its HTTP server for the admin API and the status endpoints. This is the whole
 * runtime-specific surface; everything else in `src/` is shared.
 */
import type { PlainHandler } from "../observability/status-app.ts";
import type { SocketAdapter } from "../proxy/adapter.ts";

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface HttpServerHandle {
  /** the bound address, `host:port` (the real port when 0 was asked for) */
  readonly addr: string;
  close(): Promise<void>;
}

export interface RuntimeEdge {
  /** `node`, `bun` or `deno` */
  readonly runtime: "node" | "bun" | "deno";
  /** the runtime's version, e.g. `20.20.2` */
  readonly runtimeVersion: string;
  /** builds the socket adapter asked for with `--runtime-adapter` (`native` | `node-compat`) */
  socketAdapter(kind: "native" | "node-compat"): Promise<SocketAdapter>;
  /** serves HTTP with the runtime's own server (Node's http module, Bun's and Deno's own `serve`) */
  serveHttp(fetch: FetchHandler, host: string, port: number): Promise<HttpServerHandle>;
  /**
   * serves the status endpoints (a plain handler) with the runtime's lightest server: Node's `http`
   * module without fetch objects; Bun and Deno through `serveHttp`, whose `Response` costs them nothing
   */
  serveStatus(handler: PlainHandler, host: string, port: number): Promise<HttpServerHandle>;
  /** run `handler` once on SIGTERM or SIGINT */
  onShutdownSignal(handler: (signal: string) => void): void;
  /** exit the process */
  exit(code: number): never;
}
