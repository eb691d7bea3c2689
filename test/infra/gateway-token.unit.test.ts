/**
 * The gateway token never goes on a command line in what we ship or tell users to paste (issue 12,
 * finding 8): `ps` shows every process's arguments to every local user. The systemd units and Terraform
 * pass it in the 0600 environment file, the docs in SLUICE_GATEWAY_TOKEN or --token-file.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { test } from "node:test";

const repo = join(import.meta.dirname, "..", "..");

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

test("no unit, Terraform module, example or doc passes the gateway token on the command line (--token <value>)", async () => {
  const files = [
    join(repo, "README.md"),
    ...(await filesUnder(join(repo, "docs"))),
    ...(await filesUnder(join(repo, "infra"))),
  ];
  // `--token` followed by a value (`--token "$TOKEN"`, `--token=…`, a pasted token of 16 or more
  // characters); prose naming the deprecated flag ("`--token` warns") is fine
  const onCommandLine = /--token(?:=\S|\s+(?:["'$]|[\w-]{16,}))/;
  const offenders: string[] = [];
  for (const file of files) {
    const lines = (await readFile(file, "utf8")).split("\n");
    lines.forEach((line, i) => {
      if (onCommandLine.test(line)) offenders.push(`${relative(repo, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(offenders, []);
});

test("the gateway unit takes its token from the root-only environment file, not from ExecStart", async () => {
  const unit = await readFile(join(repo, "infra/systemd/sluice-gateway.service"), "utf8");
  const execStart = unit.split("\n").find((l) => l.startsWith("ExecStart="));
  assert.ok(execStart && !/token/i.test(execStart), execStart);
  assert.match(unit, /^EnvironmentFile=\/etc\/sluice\/sluice-gateway\.env$/m);
  const env = await readFile(join(repo, "infra/systemd/sluice-gateway.env.example"), "utf8");
  assert.match(env, /mode 0600/);
  assert.match(env, /^SLUICE_GATEWAY_TOKEN=/m);
  const module = await readFile(join(repo, "infra/terraform/modules/gateway-host/main.tf"), "utf8");
  assert.match(module, /secret_environment\s*=\s*\{\s*SLUICE_GATEWAY_TOKEN = var\.gateway_token\s*\}/);
});
