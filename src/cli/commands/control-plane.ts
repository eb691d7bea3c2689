/**
 * `sluice control-plane`: the admin API only, on PostgreSQL, for any number of replicas on one
 * database. It is `sluice start` without the in-process gateway, with `DATABASE_URL` required (PGlite is
 * one process's private store; replicas must share a server). Gateways connect to it with
 * `sluice gateway --control-plane URL`.
 *
 * `withGatewaySync` adds the gateway-facing routes (SSE config stream, heartbeats, instances) and the
 * cross-replica LISTEN/NOTIFY to an admin server; `main.ts` applies it to `start` and `control-plane`.
 */
import { createControlPlaneSync } from "../../admin/control-plane-sync.ts";
import { keyringFromEnvironment } from "../../store/keyring.ts";
import { type CliCommand, UsageError } from "../command.ts";
import { type StartHooks, startCommand } from "./start.ts";

export const CONTROL_PLANE_HELP = `Usage: DATABASE_URL=postgres://… sluice control-plane [options]

The admin API and gateway config delivery only (no gateway). Run any number of replicas on one
PostgreSQL database; gateways connect with 'sluice gateway --control-plane URL[,URL2]'.

  --admin-addr ADDR   admin API and gateway endpoints (env SLUICE_ADMIN_ADDR, default 127.0.0.1:9180)
  --status-addr ADDR  /healthz /readyz /metrics (env SLUICE_STATUS_ADDR, default 127.0.0.1:9091)
  --log-level LEVEL   (env SLUICE_LOG_LEVEL, default info)

Environment: DATABASE_URL (required), SLUICE_KEYRING or SLUICE_KEYRING_FILE (required: the keys that
encrypt certificate private keys, the same on every replica), SLUICE_ADMIN_KEY.
`;

/** mounts the gateway sync routes on the admin server (and keeps any routes the caller had) */
export function withGatewaySync(hooks: StartHooks): StartHooks {
  return {
    ...hooks,
    extraRoutes(ctx) {
      const own = hooks.extraRoutes?.(ctx) ?? {};
      const sync = createControlPlaneSync(ctx.store, ctx.logger);
      sync
        .start()
        .catch((error: Error) =>
          ctx.logger.error({ reason: error.message }, "could not listen for other replicas' config changes"),
        );
      return { extraRoutes: [...(own.extraRoutes ?? []), ...sync.routes] };
    },
  };
}

export function controlPlaneCommand(hooks: StartHooks = {}): CliCommand {
  // replicas share one database, so they must share its keyring: from configuration, never generated
  const start = startCommand({
    ...hooks,
    dataPlane: undefined,
    keyring: (_settings, env) => keyringFromEnvironment(env),
  });
  return {
    name: "control-plane",
    summary: "admin API only, on PostgreSQL (DATABASE_URL); run several as replicas",
    help: CONTROL_PLANE_HELP,
    async run(argv, context) {
      const url = process.env.DATABASE_URL ?? "";
      if (!/^postgres(ql)?:\/\//.test(url)) {
        throw new UsageError(
          "DATABASE_URL=postgres://user@host:5432/db is required: replicas share one PostgreSQL database " +
            "(for a single process with embedded storage use 'sluice start')",
        );
      }
      return start.run(argv, context);
    },
  };
}
