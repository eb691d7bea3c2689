/** ADC's `--include-resource-type` / `--exclude-resource-type` as `sluice apply` and `sluice dump` read them. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../../src/cli/command.ts";
import { parseResourceFilter } from "../../src/cli/resource-filter.ts";

test("resource types repeat or come comma-separated; an unknown one or both flags is a usage error", () => {
  assert.deepEqual(parseResourceFilter({ "exclude-resource-type": ["route,consumer", "consumer_group"] }), {
    exclude: ["route", "consumer", "consumer_group"],
  });
  assert.deepEqual(parseResourceFilter({ "include-resource-type": ["service"] }), { include: ["service"] });
  assert.deepEqual(parseResourceFilter({}), {});
  assert.throws(
    () => parseResourceFilter({ "exclude-resource-type": ["routes"] }),
    (e: unknown) => e instanceof UsageError && /unknown resource type 'routes'/.test(e.message),
  );
  assert.throws(
    () => parseResourceFilter({ "include-resource-type": ["ssl"], "exclude-resource-type": ["route"] }),
    UsageError,
  );
});
