/**
 * TLS termination (issue 13): full handshakes per second and bulk throughput through a listener that
 * terminates TLS with the harness's ECDSA P-256 certificate and sends plaintext upstream.
 *
 * Handshakes: `openssl s_time -new` (a new TCP connection and a full handshake each, no resumption, TLS
 * 1.3 as negotiated by default), HANDSHAKE_CLIENTS processes in parallel, each doing one handshake after
 * the other for the run's length; the figure is the sum of their connections over the wall time. A C
 * client is used so that the load generator's own cost per handshake (its half of the key exchange and
 * the signature check) is the same small, fixed amount for every target on the shared cores; a Node
 * client would spend more CPU per handshake in JavaScript than the proxy under test.
 * Bulk: one `socat` TLS client reading what the bulk source writes through the proxy (download
 * direction: the proxy encrypts), counted on the client's stdout from the first byte for the run's length.
 * socat reads 256 KiB at a time; `openssl s_client` reads 8 KiB at a time and measured 2.7× less than
 * socat from the same Node TLS server, which would make the client the limit instead of the proxy.
 */
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { tail } from "../processes.ts";
import type { Workload } from "./workload.ts";

const HANDSHAKE_CLIENTS = 8;

function runSTime(port: number, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("openssl", ["s_time", "-connect", `127.0.0.1:${port}`, "-new", "-time", String(seconds)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString("latin1").replaceAll("*", "");
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString("latin1");
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), (seconds + 20) * 1000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(killer);
      const done = /(\d+) connections in [\d.]+ real seconds/.exec(out);
      if (code !== 0 || !done) reject(new Error(`openssl s_time failed (${code}): ${tail(out, 300)}`));
      else resolve(Number(done[1]));
    });
  });
}

export const tlsHandshakeWorkload: Workload = {
  key: "tls",
  name: "TLS handshakes, new connection each",
  figures: [
    { id: "tls_handshakes_per_s", label: "TLS handshakes (new connection each)", unit: "conn/s", better: "higher" },
  ],
  quick: false,
  skip: (ctx) => (ctx.target.ports.tls === undefined ? "no TLS termination" : undefined),
  async run(ctx) {
    const seconds = ctx.quick ? 3 : 5;
    const started = performance.now();
    const counts = await Promise.all(
      Array.from({ length: HANDSHAKE_CLIENTS }, () => runSTime(ctx.target.ports.tls!, seconds)),
    );
    const elapsed = (performance.now() - started) / 1000;
    return { tls_handshakes_per_s: counts.reduce((a, b) => a + b, 0) / elapsed };
  },
};

export const tlsBulkWorkload: Workload = {
  key: "tlsbulk",
  name: "TLS bulk, 1 stream",
  figures: [{ id: "tls_bulk_gbps", label: "TLS bulk 1 stream (proxy encrypts)", unit: "Gbit/s", better: "higher" }],
  quick: false,
  skip: (ctx) => (ctx.target.ports.tlsBulk === undefined ? "no TLS termination" : undefined),
  run(ctx) {
    const seconds = ctx.quick ? 3 : 5;
    return new Promise((resolve, reject) => {
      const peer = `OPENSSL:127.0.0.1:${ctx.target.ports.tlsBulk},verify=0`;
      const child = spawn("socat", ["-u", "-b", "262144", peer, "STDOUT"], { stdio: ["ignore", "pipe", "pipe"] });
      let errors = "";
      let bytes = 0;
      let first = 0;
      let settled = false;
      const finish = (result: Error | number) => {
        if (settled) return;
        settled = true;
        clearTimeout(killer);
        child.kill("SIGKILL");
        if (typeof result === "number") resolve({ tls_bulk_gbps: result });
        else reject(result);
      };
      const killer = setTimeout(
        () => finish(new Error(`no TLS bulk data within ${seconds + 20} s: ${tail(errors, 300)}`)),
        (seconds + 20) * 1000,
      );
      child.stdout.on("data", (chunk: Buffer) => {
        if (first === 0) {
          first = performance.now();
          setTimeout(() => finish((bytes * 8) / ((performance.now() - first) / 1000) / 1e9), seconds * 1000);
          return; // the clock starts after the first chunk
        }
        bytes += chunk.byteLength;
      });
      child.stderr.on("data", (c: Buffer) => {
        errors += c.toString("latin1");
      });
      child.on("error", (err) => finish(err));
      child.on("exit", (code) => finish(new Error(`socat exited (${code}): ${tail(errors, 300)}`)));
    });
  },
};
