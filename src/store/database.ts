/**
 * Opens the control plane's storage: PGlite (embedded PostgreSQL, files in the data dir) by default, or a
 * PostgreSQL server through postgres.js when a `DATABASE_URL` is given. Both are driven through the same
 * Drizzle schema, so everything above this file is unaware of which one it talks to.
 */
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Sql } from "postgres";
import { DATA_DIR_TEMPLATE, readDataDirTemplate, unpackDataDir } from "./data-dir-template.ts";

export type Db = PgDatabase<PgQueryResultHKT>;

export interface Database {
  readonly db: Db;
  readonly kind: "pglite" | "postgres";
  /** the postgres.js client (for LISTEN/NOTIFY); absent on PGlite */
  readonly sql?: Sql;
  /** a short, password-free description for logs */
  readonly description: string;
  /** one trivial query (`select 1`): resolves when the database answers, rejects with why it did not */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface PostgresOptions {
  databaseUrl: string;
  /** seconds for one connection to be ready (TCP, TLS, authentication); default 10 */
  connectTimeoutSeconds?: number;
  /** connection attempts at start before giving up; default 3 */
  connectAttempts?: number;
  /** told about each attempt at start, so a slow or silent server shows in the log */
  onConnectAttempt?: (event: ConnectAttempt) => void;
}

export interface ConnectAttempt {
  attempt: number;
  of: number;
  target: string;
  /** absent when the attempt is starting; the reason when it failed */
  error?: string;
}

export interface PgliteOptions {
  dataDir: string;
  /** the data dir template a fresh data dir is unpacked from (default: the build's); false runs initdb */
  template?: URL | false;
  /** told how a fresh data dir was made: from the template, or by initdb and why not from the template */
  onFreshDataDir?: (event: FreshDataDir) => void;
}

export type FreshDataDir = { from: "template"; ms: number } | { from: "initdb"; ms: number; reason: string };

export type StorageOptions = PostgresOptions | PgliteOptions;

export async function openDatabase(options: StorageOptions): Promise<Database> {
  if ("databaseUrl" in options) return openPostgres(options);
  return openPglite(options);
}

/**
 * PostgreSQL settings for the embedded database, sized for a control plane's few small tables rather than
 * PostgreSQL's server defaults. The WebAssembly memory PGlite runs in never shrinks, so whatever PostgreSQL
 * touches at start (shared_buffers above all: 128 MB by default) stays resident for the life of the process;
 * with these, an opened PGlite holds about 150 MiB instead of about 300.
 */
export const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: "8MB",
  wal_buffers: "256kB",
  temp_buffers: "1MB",
  work_mem: "1MB",
  maintenance_work_mem: "4MB",
  max_connections: "4",
};

/** Runs a full collection where the runtime exposes one (Node with --expose-gc, as `npm start` runs it). */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** a data dir's permissions that would let another local user change the database */
export class DataDirPermissionError extends Error {
  constructor(dataDir: string, mode: number) {
    super(
      `data dir ${dataDir} is writable by other users (mode ${(mode & 0o777).toString(8).padStart(4, "0")}): ` +
        `anyone who can write it can corrupt or replace the database. Fix it with: chmod -R go-rwx ${dataDir}`,
    );
    this.name = "DataDirPermissionError";
  }
}

/**
 * The embedded database's files are the control plane's only copy of its state: like PostgreSQL, keep
 * them private to the owner (dir 0700, files 0600) whatever the umask, and refuse a data dir others can
 * write. The umask stays 077 for the process's life because PGlite creates files (WAL segments,
 * relations) as it runs. Not enforced on Windows, where modes do not carry these permissions.
 */
async function securePglite(dataDir: string): Promise<void> {
  if (process.platform === "win32") return;
  process.umask(0o077);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const mode = (await stat(dataDir)).mode;
  if (mode & 0o022) throw new DataDirPermissionError(dataDir, mode);
}

/** older versions left files at 0666 & ~umask: tighten what is there */
async function restrict(path: string, dirMode: number): Promise<void> {
  await chmod(path, dirMode);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await restrict(child, 0o700);
    else if (entry.isFile()) await chmod(child, 0o600);
  }
}

async function openPglite(options: PgliteOptions): Promise<Database> {
  const { dataDir } = options;
  const fresh = !existsSync(join(dataDir, "PG_VERSION"));
  await securePglite(dataDir);
  const started = Date.now();
  const template = fresh ? (options.template ?? DATA_DIR_TEMPLATE) : false;
  // unpacking the template (file system calls and gunzip, on the thread pool) overlaps loading PGlite (main
  // thread)
  const unpacked = template ? unpackTemplate(dataDir, template) : undefined;
  const [{ PGlite }, { drizzle }] = await Promise.all([import("@electric-sql/pglite"), import("drizzle-orm/pglite")]);
  // -c on the command line, after PGlite's own start parameters: leaves the data dir's postgresql.conf alone
  const settings = Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
  const open = () => PGlite.create(dataDir, { startParams: [...PGlite.defaultStartParams, ...settings] });
  let client: Awaited<ReturnType<typeof open>> | undefined;
  let initdbReason = "not asked for";
  if (unpacked) {
    const outcome = await unpacked;
    if (typeof outcome === "string") initdbReason = outcome;
    else {
      try {
        client = await open();
        options.onFreshDataDir?.({ from: "template", ms: Date.now() - started });
      } catch (error) {
        await outcome.undo();
        initdbReason = `PGlite could not open the data dir template (${(error as Error).message})`;
      }
    }
  }
  if (!client) {
    client = await open();
    if (fresh) {
      // initdb ran inside this instance's (never shrinking) WebAssembly memory and a second PGlite of its
      // own: hundreds of MiB that only a new instance and a collection give back
      await client.close();
      collectGarbage();
      client = await open();
      collectGarbage();
      options.onFreshDataDir?.({ from: "initdb", ms: Date.now() - started, reason: initdbReason });
    }
  }
  // once opened: initdb writes its files with modes of its own (0666 whatever the umask), PGlite writes some
  // at every open (pg_internal.init at 0644), and older versions left theirs as the umask made them
  if (process.platform !== "win32") await restrict(dataDir, 0o700);
  const opened = client;
  const db = drizzle({ client: opened }) as unknown as Db;
  return {
    db,
    kind: "pglite",
    description: `pglite:${dataDir}`,
    ping: async () => {
      await opened.query("select 1");
    },
    close: () => opened.close(),
  };
}

/**
 * Unpacks the template into the fresh data dir; on failure (no template, a corrupt one) removes what it
 * unpacked and says why, so that the caller runs initdb instead. `undo` does the same after an open that failed.
 */
async function unpackTemplate(dataDir: string, template: URL): Promise<{ undo(): Promise<void> } | string> {
  const archive = await readDataDirTemplate(template);
  if (typeof archive === "string") return `no data dir template (${archive})`;
  const before = new Set(await readdir(dataDir));
  const undo = async () => {
    for (const name of await readdir(dataDir)) {
      if (!before.has(name)) await rm(join(dataDir, name), { recursive: true, force: true });
    }
  };
  try {
    await unpackDataDir(archive, dataDir);
    return { undo };
  } catch (error) {
    await undo();
    return `the data dir template could not be used (${(error as Error).message})`;
  }
}

/**
 * A server that accepts the TCP connection and never answers would hold every query forever:
 * `connect_timeout` bounds each connection until it is ready, and the start makes a few bounded attempts,
 * each announced, then fails with the reason.
 */
async function openPostgres(options: PostgresOptions): Promise<Database> {
  const url = options.databaseUrl;
  const { default: postgres } = await import("postgres");
  const { drizzle } = await import("drizzle-orm/postgres-js");
  const timeout = options.connectTimeoutSeconds ?? 10;
  const of = options.connectAttempts ?? 3;
  // notices (e.g. "relation already exists, skipping") are noise in the gateway's JSON logs
  const sql = postgres(url, { max: 10, onnotice: () => {}, connect_timeout: timeout });
  const target = redactUrl(url);
  for (let attempt = 1; ; attempt++) {
    options.onConnectAttempt?.({ attempt, of, target });
    try {
      await sql`select 1`;
      break;
    } catch (error) {
      const reason = (error as Error).message;
      options.onConnectAttempt?.({ attempt, of, target, error: reason });
      if (attempt >= of) {
        await sql.end({ timeout: 0 }).catch(() => {});
        throw new Error(
          `cannot reach PostgreSQL at ${target}: ${of} attempts of ${timeout} s each failed (last: ${reason}); ` +
            "check DATABASE_URL, that the server runs and that this host may connect to it",
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const db = drizzle({ client: sql }) as unknown as Db;
  return {
    db,
    kind: "postgres",
    sql,
    description: target,
    ping: async () => {
      await sql`select 1`;
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/** `postgres://user:secret@host/db` → `postgres://user@host/db` */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = "";
    return u.toString();
  } catch {
    return "postgres://(unparsable url)";
  }
}
