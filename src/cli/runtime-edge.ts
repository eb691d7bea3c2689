/**
 * What a runtime entry point (`runtime/<name>/main.ts`) hands to the CLI: its socket adapter for the
 * data plane and its HTTP server for the admin API and the status endpoints. This is the whole
 * runtime-specific surface; everything else in `src/` is shared.
 */
import type { RequestConnection } from "../admin/auth-throttle.ts";
import type { PlainHandler } from "../observability/status-app.ts";
import type { SocketAdapter } from "../proxy/adapter.ts";

/** a Hono app's `fetch`; the runtime passes the request's connection (the client's address) as its `env` */
export type FetchHandler = (request: Request, connection: RequestConnection) => Response | Promise<Response>;

export interface HttpServerHandle {
  /** the bound address, `host:port` (the real port when 0 was asked for) */
  readonly addr: string;
  close(): Promise<void>;
}

/** The primary's end of one worker process's IPC channel (`--workers`). */
export interface WorkerLink {
  readonly pid: number;
  /** a JSON-serialisable message; dropped when the worker is gone */
  send(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
  /** the worker process exited (crashed, killed, or stopped when asked) */
  onExit(handler: (code: number | null, signal: string | null) => void): void;
  kill(signal: "SIGKILL" | "SIGTERM"): void;
}

/** A worker process's end of its channel to the primary. */
export interface PrimaryLink {
  readonly workerId: number;
  send(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
  /** the channel closed: the primary is gone */
  onDisconnect(handler: () => void): void;
}

/**
 * How a runtime runs more data planes of this program on the same ports: worker processes with an IPC
 * channel to the primary, and whether their listeners share a port by SO_REUSEPORT or by the runtime's
 * own handle sharing.
 */
export interface WorkerProcesses {
  /** how listeners share ports, for the log and docs: e.g. `SO_REUSEPORT` or `cluster shared handles` */
  readonly portSharing: string;
  /** whether each worker binds its own socket with `reusePort` (else the runtime shares one handle) */
  readonly reusePort: boolean;
  /** starts worker `workerId`: the same program and arguments, started as a worker (see `primary`) */
  spawn(workerId: number): WorkerLink;
  /** in a worker process, the channel to the primary; undefined in any other process */
  primary(): PrimaryLink | undefined;
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
  /** worker processes for `--workers`, or why this runtime cannot run them (loaded when asked) */
  workers(): Promise<WorkerProcesses | { readonly unsupported: string }>;
  /** exit the process */
  exit(code: number): never;
}
