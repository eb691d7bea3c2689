/**
 * The ports a proxy target serves the backends on, for targets that start one process with every route
 * given at start (`sluice gateway --config`, the adapter floor): free ports chosen up front, then waited on
 * until each TCP port accepts and the UDP port answers DNS.
 */
import { freePort } from "../../test/fixtures/ports.ts";
import type { Backends } from "../backends/index.ts";
import { type BenchProcess, waitForTcp } from "../processes.ts";
import { waitForDnsAnswer } from "../workloads/dns-query.ts";

export interface ProxiedPorts {
  readonly redis: number;
  readonly iperf: number;
  readonly hold: number;
  readonly pg: number | undefined;
  readonly dns: number | undefined;
}

export async function freeProxiedPorts(backends: Backends): Promise<ProxiedPorts> {
  return {
    redis: await freePort(),
    iperf: await freePort(),
    hold: await freePort(),
    pg: backends.pgDatabase ? await freePort() : undefined,
    dns: backends.dns ? await freePort() : undefined,
  };
}

/** resolves once every TCP port accepts and the UDP port answers a DNS query; throws otherwise */
export async function waitUntilProxying(ports: ProxiedPorts, proc: BenchProcess, tcpTimeoutMs: number): Promise<void> {
  for (const port of [ports.redis, ports.iperf, ports.hold, ...(ports.pg ? [ports.pg] : [])]) {
    await waitForTcp(port, tcpTimeoutMs, proc);
  }
  if (ports.dns && !(await waitForDnsAnswer(ports.dns, 15_000)))
    throw new Error(`udp route on ${ports.dns} gave no DNS answer`);
}
