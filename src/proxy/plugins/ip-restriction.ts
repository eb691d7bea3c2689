/**
 * `ip-restriction` (priority 3000), APISIX's schema: exactly one of `whitelist` / `blacklist`, each a
 * list of IPv4/IPv6 addresses or CIDRs. A denied connection is closed with code `response_code` (403) before any byte
 * reaches an upstream. Lists are parsed once per config (at `create`), not per connection. IPv4-mapped
 * IPv6 addresses, in the lists or as the client, are compared as IPv4.
 */
import ipaddr from "ipaddr.js";
import type { z } from "zod";
import type { PluginSchemaKit } from "../../config/plugin-config.ts";
import { parseCidr } from "../../net/addresses.ts";
import type { StreamPlugin } from "./types.ts";

export const ipRestrictionSchema = ({ z, ipOrCidr }: PluginSchemaKit) =>
  z
    .strictObject({
      whitelist: z.array(ipOrCidr).min(1).optional(),
      blacklist: z.array(ipOrCidr).min(1).optional(),
      /** APISIX's HTTP response body; a stream connection is closed without a reply, so it has no effect */
      message: z.string().min(1).max(1024).default("Your IP address is not allowed"),
      /**
       * APISIX's HTTP status (403 or 404). A stream connection gets no reply; as in APISIX's stream plugin
       * it is the code the denied session is recorded with (logs, metrics)
       */
      response_code: z.number().int().min(403).max(404).default(403),
    })
    .superRefine((conf, ctx) => {
      if ((conf.whitelist === undefined) === (conf.blacklist === undefined)) {
        ctx.addIssue({ code: "custom", message: "exactly one of 'whitelist' or 'blacklist' is required" });
      }
    });
export type IpRestrictionConf = z.output<ReturnType<typeof ipRestrictionSchema>>;

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

function toComparable(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (address as ipaddr.IPv6).toIPv4Address();
  }
  return address;
}

function compile(entries: readonly string[]): { v4: Range[]; v6: Range[] } {
  const v4: Range[] = [];
  const v6: Range[] = [];
  for (const entry of entries) {
    const { range, bits } = parseCidr(entry);
    (range.kind() === "ipv4" ? v4 : v6).push([range, bits]);
  }
  return { v4, v6 };
}

export const ipRestriction: StreamPlugin<IpRestrictionConf> = {
  name: "ip-restriction",
  priority: 3000,
  schema: ipRestrictionSchema,
  create(conf) {
    const allow = conf.whitelist !== undefined;
    const denied = { reject: conf.response_code };
    const { v4, v6 } = compile(conf.whitelist ?? conf.blacklist ?? []);
    const listed = (client: string): boolean => {
      if (!ipaddr.isValid(client)) return false;
      const address = toComparable(ipaddr.parse(client));
      const ranges = address.kind() === "ipv4" ? v4 : v6;
      for (const [range, bits] of ranges) if (address.match(range, bits)) return true;
      return false;
    };
    return {
      preread(session) {
        return listed(session.client.address) === allow ? undefined : denied;
      },
    };
  },
};
