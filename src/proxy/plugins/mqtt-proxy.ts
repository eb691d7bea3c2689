/**
 * `mqtt-proxy` (priority 1000), APISIX's stream plugin: reads the client's MQTT CONNECT packet in
 * preread, refuses a connection whose CONNECT is malformed, too large, too slow or of another protocol
 * name or level than configured (code 503, as APISIX), and sets `mqtt_client_id` for the balancer, so an
 * upstream of `type: "chash"`, `hash_on: "vars"`, `key: "mqtt_client_id"` sends a client id to the
 * same broker every time. An empty client id (MQTT 3.1.1 / 5 let the broker assign one) leaves the
 * variable unset and chash falls back to the client address, as APISIX does.
 *
 * The CONNECT is only looked at: the broker receives it unchanged. The reader keeps at most 16 KiB
 * (nginx's `preread_buffer_size`); the time is the gateway's first-bytes limit (5 s by default).
 * Every refusal is counted in `mqtt_connect_refused_total{reason}` and ends with `close_reason`
 * `mqtt_<reason>` in the access log.
 */
import type { z } from "zod";
import type { PluginSchemaKit } from "../../config/plugin-config.ts";
import { MqttConnectReader } from "./mqtt-connect.ts";
import type { PrereadVerdict, StreamPlugin, StreamSession } from "./types.ts";

/** the protocol names the CONNECT reader knows, with the levels each goes with */
const LEVELS_BY_NAME: Readonly<Record<string, readonly number[]>> = { MQTT: [4, 5], MQIsdp: [3] };

export const mqttProxySchema = ({ z }: PluginSchemaKit) =>
  z
    .strictObject({
      protocol_name: z.string().min(1).default("MQTT"),
      protocol_level: z.number().int(),
    })
    .superRefine((conf, ctx) => {
      const levels = LEVELS_BY_NAME[conf.protocol_name];
      if (!levels) {
        ctx.addIssue({
          code: "custom",
          path: ["protocol_name"],
          message: `must be "MQTT" (MQTT 3.1.1 and 5.0) or "MQIsdp" (MQTT 3.1), got "${conf.protocol_name}"`,
        });
      } else if (!levels.includes(conf.protocol_level)) {
        ctx.addIssue({
          code: "custom",
          path: ["protocol_level"],
          message: `must be ${levels.join(" or ")} with protocol_name "${conf.protocol_name}", got ${conf.protocol_level}`,
        });
      }
    });
export type MqttProxyConf = z.output<ReturnType<typeof mqttProxySchema>>;

/** APISIX's code for a connection mqtt-proxy refuses */
const REFUSED = 503;

export const mqttProxy: StreamPlugin<MqttProxyConf> = {
  name: "mqtt-proxy",
  priority: 1000,
  schema: mqttProxySchema,
  create(conf, env, scope) {
    const counter = env.metrics.gateway.mqttConnectRefused;
    const refuse = (session: StreamSession, reason: string, detail: string): PrereadVerdict => {
      counter.inc({ reason });
      env.logger.warn(
        { route: scope.routeId, client: session.client.address, reason: detail },
        "mqtt-proxy: CONNECT refused, connection closed",
      );
      return { reject: REFUSED, reason: `mqtt_${reason}` };
    };

    return {
      preread(session) {
        const bytes = session.clientBytes;
        if (!bytes) return refuse(session, "not_tcp", "MQTT runs over TCP; this route serves UDP");
        const reader = new MqttConnectReader();
        return bytes
          .read((chunk) => reader.push(chunk))
          .then((outcome): PrereadVerdict => {
            switch (outcome.kind) {
              case "timeout":
                return refuse(session, "timeout", "no complete CONNECT packet within the first-bytes time limit");
              case "closed":
                return refuse(session, "incomplete", "the client closed before its CONNECT packet was complete");
              case "error":
                return refuse(session, "malformed", outcome.reason);
            }
            const { protocolName, protocolLevel, clientId } = outcome.connect;
            if (protocolName !== conf.protocol_name || protocolLevel !== conf.protocol_level) {
              return refuse(
                session,
                "protocol",
                `expected protocol ${conf.protocol_name} level ${conf.protocol_level}, got ${protocolName} level ${protocolLevel}`,
              );
            }
            if (clientId !== "") {
              session.vars ??= new Map();
              session.vars.set("mqtt_client_id", clientId);
            }
            return undefined;
          });
      },
    };
  },
};
