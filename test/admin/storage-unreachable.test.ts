/**
 * `sluice control-plane` against a PostgreSQL address that accepts the TCP connection and never answers
 * (issue 12, finding 13): each attempt is logged, and the process gives up with a clear error and a
 * non-zero exit instead of hanging without a word.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

it("gives up on a silent PostgreSQL with one log line per attempt, a clear error and exit code 1", {
  timeout: 60_000,
}, async () => {
  const held: Socket[] = [];
  const silent = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as { port: number }).port;
  try {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "runtime/node/main.ts",
        "control-plane",
        "--admin-addr",
        "127.0.0.1:0",
        "--status-addr",
        "127.0.0.1:0",
      ],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL: `postgres://sluice:secret-pw@127.0.0.1:${port}/sluice`,
          SLUICE_DB_CONNECT_TIMEOUT: "1",
          SLUICE_DB_CONNECT_ATTEMPTS: "2",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    assert.equal(code, 1, `exit code\n${stdout}\n${stderr}`);
    const lines = stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string; attempt?: number });
    assert.deepEqual(
      lines.filter((l) => l.msg === "connecting to PostgreSQL").map((l) => l.attempt),
      [1, 2],
    );
    assert.equal(lines.filter((l) => l.msg === "PostgreSQL connection attempt failed").length, 2);
    assert.match(
      stderr,
      /cannot reach PostgreSQL at postgres:\/\/sluice@127\.0\.0\.1:\d+\/sluice: 2 attempts of 1 s each failed/,
    );
    assert.doesNotMatch(stdout + stderr, /secret-pw/, "the password is never shown");
    assert.ok(held.length >= 1, "the client did reach the silent server");
  } finally {
    for (const socket of held) socket.destroy();
    silent.close();
  }
});
