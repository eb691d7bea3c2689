/** The scale-out commands refuse bad invocations with a message that says what to do, and exit 2. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

test("the gateway token: --token-file and SLUICE_GATEWAY_TOKEN stay out of the process list; --token warns", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-token-"));
  const secret = "gt_token-file-secret-0123456789";
  await writeFile(join(dir, "token"), `${secret}\n`, { mode: 0o600 });
  const common = ["--control-plane", "http://127.0.0.1:1", "--status-addr", "127.0.0.1:0"];
  const fromFile = sluice(["gateway", ...common, "--data-dir", join(dir, "a"), "--token-file", join(dir, "token")]);
  const fromEnv = sluice(["gateway", ...common, "--data-dir", join(dir, "b")], { SLUICE_GATEWAY_TOKEN: secret });
  const fromFlag = sluice(["gateway", ...common, "--data-dir", join(dir, "c"), "--token", secret]);
  try {
    for (const proc of [fromFile, fromEnv, fromFlag]) await proc.addr("status api listening");
    for (const proc of [fromFile, fromEnv]) {
      const cmdline = await readFile(`/proc/${proc.child.pid}/cmdline`, "utf8");
      assert.ok(!cmdline.includes(secret), `the token is in the process list: ${cmdline.replaceAll("\0", " ")}`);
      assert.ok(!proc.lines.some((l) => /--token is visible/.test(l)));
    }
    assert.ok((await readFile(`/proc/${fromFlag.child.pid}/cmdline`, "utf8")).includes(secret));
    await fromFlag.waitForLine(/--token is visible to every local user in the process list; use --token-file PATH/);
    // every line so far, warning included, carries no token
    for (const proc of [fromFile, fromEnv, fromFlag]) assert.ok(!proc.lines.some((l) => l.includes(secret)));
  } finally {
    await Promise.all([fromFile.stop(), fromEnv.stop(), fromFlag.stop()]);
    await rm(dir, { recursive: true, force: true });
  }
});

test("an empty or unreadable --token-file is refused with the path and exit 2", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-token-"));
  await writeFile(join(dir, "empty"), "\n");
  try {
    const [empty, missing] = await Promise.all([
      exitOf(["gateway", "--control-plane", "http://127.0.0.1:1", "--token-file", join(dir, "empty")]),
      exitOf(["gateway", "--control-plane", "http://127.0.0.1:1", "--token-file", join(dir, "missing")]),
    ]);
    assert.equal(empty.code, 2);
    assert.match(empty.text, /--token-file: .*empty is empty/);
    assert.equal(missing.code, 2);
    assert.match(missing.text, /--token-file: cannot read .*missing/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
