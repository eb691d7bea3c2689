/**
 * The servers every target proxies to, started once per invocation on free loopback ports:
 * redis-server (requests, pipelining, new connections, latency), iperf3 (bulk), dnsmasq (UDP DNS, only when
 * a chosen workload queries DNS), the hold server (idle connections), a temporary pgbench database on the
 * local PostgreSQL (only for the pgbench workload) and, for the TLS workloads, a bulk source server and a
 * self-signed ECDSA P-256 certificate every TLS-terminating target serves.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSignedCertificate } from "../../test/fixtures/certificates.ts";
import { freePort } from "../../test/fixtures/ports.ts";
import { type BenchProcess, runTool, startProcess, waitForTcp } from "../processes.ts";

export interface Backends {
  readonly redisPort: number;
  readonly iperfPort: number;
  /** dnsmasq's port; nothing answers on it unless `dns` is true */
  readonly dnsPort: number;
  /** dnsmasq is running: targets set up (and wait for) their UDP route only then */
  readonly dns: boolean;
  readonly holdPort: number;
  /** the certificate every TLS-terminating listener serves (made at every invocation: it costs ~50 ms) */
  readonly certificate: BenchCertificate;
  /** the bulk source's port; nothing answers on it unless `tls` is true */
  readonly sourcePort: number;
  /** a TLS workload runs: the source is up, and targets set up (and wait for) their TLS listeners only then */
  readonly tls: boolean;
  /** PostgreSQL port (the machine's server) and the temp database pgbench was initialised in, if any. */
  readonly pgPort: number;
  readonly pgDatabase: string | undefined;
  readonly pgError: string | undefined;
  readonly dnsQueryFile: string;
  readonly hold: BenchProcess;
  /** Connections the hold server has open right now, as it last reported. */
  holdCount(): number;
  readonly dir: string;
  stop(): Promise<void>;
}

export interface BenchCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  /** certificate and key in one file (HAProxy's `crt`) */
  readonly pemFile: string;
  readonly cert: string;
  readonly key: string;
  readonly name: string;
}

export const DNS_NAME = "bench.sluice.test";
const PG_PORT = 5432;

export const TLS_NAME = "tls.sluice.test";

/** ECDSA P-256: what a current nginx or Let's Encrypt setup serves by default, and cheap to sign with. */
async function makeCertificate(dir: string): Promise<BenchCertificate> {
  const { certFile, keyFile, cert, key } = selfSignedCertificate(TLS_NAME, { sans: [TLS_NAME], dir, name: "tls" });
  const pemFile = join(dir, "tls.pem");
  writeFileSync(pemFile, `${cert}${key}`);
  return { certFile, keyFile, pemFile, cert, key, name: TLS_NAME };
}

export async function startBackends(options: {
  withPg: boolean;
  withDns: boolean;
  withTls: boolean;
}): Promise<Backends> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-"));
  const started: BenchProcess[] = [];
  try {
    const redisPort = await freePort();
    const redis = startProcess("redis-server", "redis-server", [
      "--port",
      String(redisPort),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--maxclients",
      "10000",
      "--dir",
      dir,
    ]);
    started.push(redis);

    const iperfPort = await freePort();
    const iperf = startProcess("iperf3", "iperf3", ["-s", "-B", "127.0.0.1", "-p", String(iperfPort)]);
    started.push(iperf);

    const dnsPort = await freePort();
    const dnsmasq = options.withDns
      ? startProcess("dnsmasq", "dnsmasq", [
          "--keep-in-foreground",
          "--conf-file=/dev/null",
          `--port=${dnsPort}`,
          "--listen-address=127.0.0.1",
          "--bind-interfaces",
          "--no-resolv",
          "--no-hosts",
          "--user=root",
          `--pid-file=${join(dir, "dnsmasq.pid")}`,
          `--address=/${DNS_NAME}/127.0.0.1`,
          "--cache-size=1000",
        ])
      : undefined;
    if (dnsmasq) started.push(dnsmasq);
    const dnsQueryFile = join(dir, "queries.txt");
    writeFileSync(dnsQueryFile, `${DNS_NAME} A\n`);

    const holdPort = await freePort();
    let held = 0;
    const hold = startProcess(
      "hold-server",
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "hold-server.ts"), String(holdPort)],
      {
        onLine(line) {
          const match = /^connections (\d+)$/.exec(line);
          if (match) held = Number(match[1]);
        },
      },
    );
    started.push(hold);

    const sourcePort = await freePort();
    const source = options.withTls
      ? startProcess("source-server", process.execPath, [
          "--import",
          "tsx",
          join(import.meta.dirname, "source-server.ts"),
          String(sourcePort),
        ])
      : undefined;
    if (source) started.push(source);
    const certificate = await makeCertificate(dir);

    await waitForTcp(redisPort, 10_000, redis);
    await waitForTcp(iperfPort, 10_000, iperf);
    await waitForTcp(holdPort, 15_000, hold);
    if (source) await waitForTcp(sourcePort, 15_000, source);
    if (dnsmasq) {
      await waitForTcp(dnsPort, 10_000, dnsmasq).catch(() => {
        // dnsmasq also listens on TCP; a missing TCP listener only matters if UDP fails too (reported then).
      });
    }

    let pgDatabase: string | undefined;
    let pgError: string | undefined;
    if (options.withPg) {
      const name = `sluice_bench_${process.pid}_${Date.now()}`;
      try {
        await runTool(
          "psql",
          [
            "-h",
            "127.0.0.1",
            "-p",
            String(PG_PORT),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            `CREATE DATABASE ${name}`,
          ],
          30_000,
        );
        pgDatabase = name;
        await runTool(
          "pgbench",
          ["-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", String(PG_PORT), "-U", "postgres", name],
          120_000,
        );
      } catch (err) {
        pgError = (err as Error).message;
      }
    }

    return {
      redisPort,
      iperfPort,
      dnsPort,
      dns: dnsmasq !== undefined,
      holdPort,
      certificate,
      sourcePort,
      tls: source !== undefined,
      pgPort: PG_PORT,
      pgDatabase: pgError ? undefined : pgDatabase,
      pgError,
      dnsQueryFile,
      hold,
      holdCount: () => held,
      dir,
      async stop() {
        for (const p of started.reverse()) await p.stop();
        if (pgDatabase) {
          await runTool(
            "psql",
            [
              "-h",
              "127.0.0.1",
              "-p",
              String(PG_PORT),
              "-U",
              "postgres",
              "-d",
              "postgres",
              "-c",
              `DROP DATABASE IF EXISTS ${pgDatabase} WITH (FORCE)`,
            ],
            30_000,
          ).catch(() => undefined);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const p of started.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
