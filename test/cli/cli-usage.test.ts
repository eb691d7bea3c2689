/** The scale-out commands refuse bad invocations with a message that says what to do, and exit 2. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { sluice } from "../fixtures/processes.ts";

async function exitOf(args: string[], env: Record<string, string | undefined> = {}) {
  const proc = sluice(args, env);
  const code = await new Promise<number | null>((resolve) => proc.child.on("exit", resolve));
  await new Promise((r) => setTimeout(r, 50));
  return { code, text: proc.lines.join("\n") };
}

test("control-plane needs DATABASE_URL; gateway needs a control plane and a token, or a file", async () => {
  const [cp, noCp, noToken] = await Promise.all([
    exitOf(["control-plane", "--admin-addr", "127.0.0.1:0"], { DATABASE_URL: "" }),
    exitOf(["gateway", "--token", "x"], { SLUICE_CONTROL_PLANE: "" }),
    exitOf(["gateway", "--control-plane", "http://127.0.0.1:1"], { SLUICE_GATEWAY_TOKEN: "" }),
  ]);
  assert.equal(cp.code, 2);
  assert.match(cp.text, /DATABASE_URL=postgres:\/\/.* is required/);
  assert.equal(noCp.code, 2);
  assert.match(noCp.text, /needs --control-plane URL .* or --config FILE/);
  assert.equal(noToken.code, 2);
  assert.match(noToken.text, /needs --token-file PATH \(or SLUICE_GATEWAY_TOKEN\)/);
});
