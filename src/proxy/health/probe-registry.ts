/**
 * The active probes by `checks.active.type`. Adding a health-check type: its probe file in this folder,
 * its name in `healthCheckType` (config/schema.ts) and one line here; the compiler refuses a type without
 * an entry.
 */
import type { HealthCheckType } from "../../config/schema.ts";
import type { CompiledUpstreamTls } from "../../config/types.ts";
import type { SocketAdapter } from "../adapter.ts";
import type { ActiveProbe } from "./probe.ts";
import { TcpProbe } from "./tcp-probe.ts";
import type { UpstreamChecks } from "./tracked-service.ts";
import { UdpProbe } from "./udp-probe.ts";

type ActiveCheck = NonNullable<UpstreamChecks["active"]>;
type ProbeFactory = (
  adapter: SocketAdapter,
  timeoutMs: number,
  check: ActiveCheck,
  tls: CompiledUpstreamTls | undefined,
) => ActiveProbe;

const probes: { readonly [type in HealthCheckType]: ProbeFactory } = {
  tcp: (adapter, timeoutMs, _check, tls) => new TcpProbe(adapter, timeoutMs, tls),
  udp: (adapter, timeoutMs, check) => {
    if (!check.udp) throw new Error("checks.active.udp is required when checks.active.type is 'udp'");
    return new UdpProbe(adapter, timeoutMs, check.udp);
  },
};

/** `tls`: the upstream's TLS settings; a `tcp` check of a TLS upstream then completes a handshake */
export function createProbe(adapter: SocketAdapter, check: ActiveCheck, tls?: CompiledUpstreamTls): ActiveProbe {
  const create = probes[check.type] as ProbeFactory | undefined;
  // The schema admits only registered types; a config that bypassed it must not become a TCP probe.
  if (!create) throw new Error(`unknown active health check type '${check.type}'`);
  return create(adapter, check.timeout * 1000, check, tls);
}
