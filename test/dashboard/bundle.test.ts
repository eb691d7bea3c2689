/**
 * The dashboard's browser code is committed as a generated module, so every runtime and the single
 * binary serve it without a build step. This fails when `client/` changed and the module was not rebuilt.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { buildClientModule, GENERATED_PATH } from "../../src/dashboard/build-client.ts";
import { CLIENT_JS } from "../../src/dashboard/client-bundle.generated.ts";

it("the committed client bundle is what src/dashboard/client builds to (run npm run build:dashboard)", async () => {
  assert.equal(readFileSync(GENERATED_PATH, "utf8"), await buildClientModule());
});

it("the dashboard's script stays under 100 KB", () => {
  assert.ok(Buffer.byteLength(CLIENT_JS) < 100 * 1024, `script is ${Buffer.byteLength(CLIENT_JS)} bytes`);
});
