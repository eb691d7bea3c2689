import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pluginSchema } from "../../src/config/plugin-config.ts";
import { streamPlugins } from "../../src/proxy/plugins/index.ts";
import { ipRestriction } from "../../src/proxy/plugins/ip-restriction.ts";
import { apisixStreamPlugins } from "../compat/fixtures/apisix-stream-plugin-schemas.ts";
import { pluginEnv, session } from "./fixtures/session.ts";

const scope = { routeId: "r1", serviceId: "s1" };

function verdictFor(conf: Record<string, unknown>, clientAddress: string) {
  const instance = ipRestriction.create(pluginSchema(ipRestriction).parse(conf), pluginEnv(), scope);
  return instance.preread?.(session({ clientAddress }));
}

describe("ip-restriction schema", () => {
  test("is registered under its APISIX name and priority", () => {
    assert.equal(streamPlugins.get("ip-restriction")?.priority, 3000);
  });

  test("needs exactly one of whitelist / blacklist, with a clear message", () => {
    for (const conf of [{}, { whitelist: ["10.0.0.1"], blacklist: ["10.0.0.2"] }]) {
      const result = pluginSchema(ipRestriction).safeParse(conf);
      assert.equal(result.success, false);
      assert.match(result.error!.issues[0]!.message, /exactly one of 'whitelist' or 'blacklist'/);
    }
  });

  test("rejects entries that are not IPv4/IPv6 addresses or CIDRs, naming the entry", () => {
    const result = pluginSchema(ipRestriction).safeParse({ whitelist: ["10.0.0.0/8", "10.0.0.300", "fe80::/129"] });
    assert.equal(result.success, false);
    assert.deepEqual(
      result.error!.issues.map((i) => i.path.join(".")),
      ["whitelist.1", "whitelist.2"],
    );
    assert.equal(pluginSchema(ipRestriction).safeParse({ whitelist: [] }).success, false, "an empty list is refused");
  });

  test("fills APISIX's default message", () => {
    assert.equal(pluginSchema(ipRestriction).parse({ blacklist: ["::1"] }).message, "Your IP address is not allowed");
  });

  test("message and response_code: accepted and refused where APISIX's schema accepts and refuses them, with its defaults", () => {
    type Bounds = { type: string; minimum?: number; maximum?: number; minLength?: number; maxLength?: number };
    const props = apisixStreamPlugins["ip-restriction"]!.schema.properties as Record<
      string,
      Bounds & { default: unknown }
    >;
    const code = props.response_code!;
    const message = props.message!;
    const accepts = (extra: Record<string, unknown>) =>
      pluginSchema(ipRestriction).safeParse({ blacklist: ["10.0.0.1"], ...extra }).success;
    const apisixAcceptsCode = (v: unknown) =>
      typeof v === "number" && Number.isInteger(v) && v >= code.minimum! && v <= code.maximum!;
    for (const v of [code.minimum! - 1, code.minimum, code.maximum, code.maximum! + 1, 403.5, "403", null]) {
      assert.equal(accepts({ response_code: v }), apisixAcceptsCode(v), `response_code ${JSON.stringify(v)}`);
    }
    const apisixAcceptsMessage = (v: unknown) =>
      typeof v === "string" && v.length >= message.minLength! && v.length <= message.maxLength!;
    for (const v of ["", "x", "x".repeat(message.maxLength!), "x".repeat(message.maxLength! + 1), 42]) {
      assert.equal(accepts({ message: v }), apisixAcceptsMessage(v), `message of ${String(v).length}`);
    }
    const parsed = pluginSchema(ipRestriction).parse({ blacklist: ["10.0.0.1"] });
    assert.equal(parsed.response_code, code.default);
    assert.equal(parsed.message, message.default);
    const issue = pluginSchema(ipRestriction).safeParse({ blacklist: ["10.0.0.1"], response_code: 500 }).error!
      .issues[0]!;
    assert.deepEqual(issue.path, ["response_code"], "the 400 names the field");
  });

  test("response_code is the code a denied session is recorded with; the connection is closed either way", () => {
    assert.deepEqual(verdictFor({ blacklist: ["127.0.0.2"], response_code: 404 }, "127.0.0.2"), { reject: 404 });
    assert.deepEqual(verdictFor({ blacklist: ["127.0.0.2"], message: "go away" }, "127.0.0.2"), { reject: 403 });
    assert.equal(verdictFor({ blacklist: ["127.0.0.2"], response_code: 404 }, "127.0.0.3"), undefined);
  });
});

describe("ip-restriction decisions", () => {
  test("whitelist: listed addresses and CIDR members pass, others are rejected with 403", () => {
    const conf = { whitelist: ["127.0.0.2", "10.1.0.0/16", "2001:db8::/32"] };
    assert.equal(verdictFor(conf, "127.0.0.2"), undefined);
    assert.equal(verdictFor(conf, "10.1.200.3"), undefined);
    assert.equal(verdictFor(conf, "2001:db8::42"), undefined);
    assert.deepEqual(verdictFor(conf, "127.0.0.3"), { reject: 403 });
    assert.deepEqual(verdictFor(conf, "::1"), { reject: 403 });
  });

  test("blacklist: listed addresses are rejected, others pass", () => {
    const conf = { blacklist: ["127.0.0.3", "::1"] };
    assert.deepEqual(verdictFor(conf, "127.0.0.3"), { reject: 403 });
    assert.deepEqual(verdictFor(conf, "::1"), { reject: 403 });
    assert.equal(verdictFor(conf, "127.0.0.2"), undefined);
  });

  test("IPv4-mapped IPv6 is compared as IPv4, on either side", () => {
    assert.equal(verdictFor({ whitelist: ["127.0.0.0/24"] }, "::ffff:127.0.0.2"), undefined);
    assert.deepEqual(verdictFor({ blacklist: ["::ffff:127.0.0.3"] }, "127.0.0.3"), { reject: 403 });
    assert.deepEqual(verdictFor({ blacklist: ["::ffff:127.0.0.0/120"] }, "127.0.0.9"), { reject: 403 });
  });
});
