/** No proxy: the load generators talk to the backends themselves. The floor every ratio is taken to. */
import type { Target } from "./target.ts";

export const directTarget: Target = {
  name: "direct",
  kind: "direct",
  async start(backends) {
    return {
      ports: {
        redis: backends.redisPort,
        iperf: backends.iperfPort,
        hold: backends.holdPort,
        pg: backends.pgDatabase ? backends.pgPort : undefined,
        dns: backends.dns ? backends.dnsPort : undefined,
        // the backends speak no TLS: nothing to compare a TLS-terminating proxy against
        tls: undefined,
        tlsBulk: undefined,
      },
      pid: undefined,
      controlPlane: undefined,
      output: () => "",
      async stop() {},
    };
  },
};
