/**
 * The ADC fixtures are what the index says they are: each one-feature file and each ported ADC test file
 * validates against ADC's own schema (a copy in fixtures/adc-schema.ts), and the legacy Go ADC files are
 * refused by the current schema for exactly their legacy top-level keys. What Sluice does with each file
 * is checked where Sluice loads them.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { adcConfigurationSchema, adcProblems } from "./fixtures/adc-schema.ts";
import { adcStreamFixtures } from "./fixtures/adc-stream/index.ts";

const root = join(import.meta.dirname, "fixtures", "adc-stream");

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? yamlFiles(join(dir, e.name))
      : e.name.endsWith(".yaml")
        ? [relative(root, join(dir, e.name))]
        : [],
  );
}

function load(file: string): unknown {
  return parse(readFileSync(join(root, file), "utf8"));
}

describe("ADC fixtures against ADC's schema", () => {
  test("every fixture file is listed in the index, and every listed file exists", () => {
    assert.deepEqual(yamlFiles(root).sort(), adcStreamFixtures.map((f) => f.file).sort());
  });

  for (const fixture of adcStreamFixtures) {
    test(`${fixture.file} (${fixture.feature})`, () => {
      const document = load(fixture.file);
      if (fixture.adc.valid) {
        assert.deepEqual(adcProblems(document), [], "ADC's schema accepts it");
        return;
      }
      const result = adcConfigurationSchema.safeParse(document);
      assert.equal(result.success, false, "ADC's current schema refuses the legacy layout");
      const unknown = result.error!.issues.flatMap((i) =>
        i.code === "unrecognized_keys" && i.path.length === 0 ? i.keys : [],
      );
      assert.deepEqual(unknown.sort(), [...fixture.adc.unknownTopLevelKeys].sort());
    });
  }
});

describe("the schema copy keeps ADC's rules", () => {
  const base = load("one-feature/base.yaml") as { services: Record<string, unknown>[] };
  const withService = (patch: Record<string, unknown>) => ({ services: [{ ...base.services[0], ...patch }] });
  const upstream = base.services[0]!.upstream as Record<string, unknown>;

  test("coerces numbers written as strings", () => {
    const parsed = adcConfigurationSchema.parse(load("one-feature/numbers-as-strings.yaml"));
    const service = parsed.services![0]!;
    assert.equal(service.upstream!.nodes![0]!.port, 3306);
    assert.equal(service.stream_routes![0]!.server_port, 9101);
    assert.equal(service.upstream!.timeout!.connect, 3);
  });

  test("refuses an unknown field (strict objects)", () => {
    assert.match(adcProblems(withService({ colour: "blue" })).join("\n"), /colour/);
  });

  test("refuses passive checks without active ones", () => {
    const problems = adcProblems(withService({ upstream: { ...upstream, checks: { passive: { type: "tcp" } } } }));
    assert.ok(problems.length > 0);
  });

  test("refuses a udp active check (ADC's active types are http, https, tcp)", () => {
    const checks = { active: { type: "udp" } };
    assert.ok(adcProblems(withService({ upstream: { ...upstream, checks } })).length > 0);
  });

  test("refuses both nodes and discovery", () => {
    const problems = adcProblems(withService({ upstream: { ...upstream, discovery_type: "dns", service_name: "x" } }));
    assert.match(problems.join("\n"), /either explicitly specify nodes or use service discovery/);
  });

  test("refuses upstreams[] without a default upstream", () => {
    const { upstream: _, ...noUpstream } = base.services[0]!;
    const problems = adcProblems({ services: [{ ...noUpstream, upstreams: [{ ...upstream, name: "u" }] }] });
    assert.match(problems.join("\n"), /default upstream must be set/);
  });

  test("refuses routes and stream_routes in one service", () => {
    const problems = adcProblems(withService({ routes: [{ name: "r", uris: ["/"] }] }));
    assert.match(problems.join("\n"), /mutually exclusive/);
  });

  test("refuses an id with characters outside [a-zA-Z0-9-_.]", () => {
    assert.ok(adcProblems(withService({ id: "a/b" })).length > 0);
  });
});
