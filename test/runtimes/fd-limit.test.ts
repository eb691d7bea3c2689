/**
 * At the fd limit, on every runtime and adapter: a connection to a stream listener or a request to the
 * HTTP server (admin / status) must not kill the process nor make it spin a core while the table stays
 * full, and once descriptors are free again both accept again (issue 12, finding 0b). The child runs with a low RLIMIT_NOFILE (prlimit) and fills its fd table on request.
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const child = join(root, "test/runtimes/fd-limit-child.ts");
const bun = join(root, "node_modules/.bin/bun");
const deno = join(root, "node_modules/.bin/deno");
const denoRun = [deno, "run", "-A", "--unstable-net", "--no-prompt", "--cached-only"];
const FD_LIMIT = "256";

const targets: [string, string[]][] = [
  ["node", [process.execPath, "--import", "tsx", child, "node"]],
  ["bun-native", [bun, child, "bun-native"]],
  ["bun-node-compat", [bun, child, "bun-node-compat"]],
  ["deno-native", [...denoRun, child, "deno-native"]],
  ["deno-node-compat", [...denoRun, child, "deno-node-compat"]],
];

const running: ChildProcessWithoutNullStreams[] = [];
after(() => {
  for (const process of running) if (process.exitCode === null) process.kill("SIGKILL");
});

function nextLine(output: { text: string }, pattern: RegExp, child: ChildProcessWithoutNullStreams, ms: number) {
  return new Promise<RegExpExecArray>((found, failed) => {
    const deadline = Date.now() + ms;
    const poll = setInterval(() => {
      const match = pattern.exec(output.text);
      if (match) {
        clearInterval(poll);
        found(match);
      } else if (child.exitCode !== null || Date.now() > deadline) {
        clearInterval(poll);
        failed(new Error(`no ${pattern} (exit ${child.exitCode}):\n${output.text}`));
      }
    }, 20);
  });
}

/** One echo round trip through the listener, or the reason it failed. */
function echo(port: number): Promise<string> {
  return new Promise((done) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let got = "";
    const finish = (answer: string) => {
      clearTimeout(timer);
      socket.destroy();
      done(answer);
    };
    const timer = setTimeout(() => finish(got || "timeout"), 1000);
    socket.on("data", (data) => {
      got += data;
      if (got === "ping") finish(got);
    });
    socket.on("error", (error) => finish((error as NodeJS.ErrnoException).code ?? "error"));
    socket.write("ping");
  });
}

async function httpStatus(addr: string): Promise<string> {
  const response = await fetch(`http://${addr}/`, { signal: AbortSignal.timeout(1000) }).catch((e: Error) => e);
  return response instanceof Error ? response.name : String(response.status);
}

/**
 * Seconds the process's threads have been runnable so far: on a CPU or waiting for one
 * (/proc/<pid>/task/<tid>/schedstat). A process spinning in its accept loop is runnable all the time
 * however loaded the machine is; one that waits in epoll is not, so the share of a window it was runnable
 * tells the two apart even while other test suites keep every core busy (its CPU seconds alone would not).
 */
function runnableSeconds(pid: number): number {
  let total = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const [onCpu, waiting] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ");
      total += Number(onCpu) + Number(waiting);
    }
  } catch {
    return Number.NaN; // exited: the assertion below says so, with the output
  }
  return total / 1e9;
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return Number.NaN; // exited: the assertion below says so, with the output
  }
  const fields = stat.split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

for (const [adapter, command] of targets) {
  test(`fd limit on ${adapter}: the process survives a full fd table and accepts again once fds are free`, async (t) => {
    const process = spawn("prlimit", [`--nofile=${FD_LIMIT}:${FD_LIMIT}`, "--", ...command], {
      cwd: root,
      env: { ...globalThis.process.env, NO_COLOR: "1" },
    }) as ChildProcessWithoutNullStreams;
    running.push(process);
    const output = { text: "" };
    process.stdout.on("data", (data: Buffer) => {
      output.text += data.toString();
    });
    process.stderr.on("data", (data: Buffer) => {
      output.text += data.toString();
    });
    const [, tcp, http] = await nextLine(output, /ready (\d+) (\S+)/, process, 60_000);
    const port = Number(tcp);
    assert.equal(await echo(port), "ping", "echo before the fd table is full");
    assert.equal(await httpStatus(http!), "200", "HTTP before the fd table is full");

    process.stdin.write("fill\n");
    await nextLine(output, /full \d+/, process, 10_000);
    // Connections and requests while no fd is free: they fail, the process must not.
    await Promise.all([echo(port), echo(port), httpStatus(http!), httpStatus(http!)]);
    // Connections wait in the accept queue meanwhile: an accept loop that ignores EMFILE spins on them.
    const cpuBefore = cpuSeconds(process.pid!);
    const runnableBefore = runnableSeconds(process.pid!);
    const windowStart = performance.now();
    await new Promise((wake) => setTimeout(wake, 3000));
    const windowSeconds = (performance.now() - windowStart) / 1000;
    const cpuWhileFull = cpuSeconds(process.pid!) - cpuBefore;
    const runnableShare = (runnableSeconds(process.pid!) - runnableBefore) / windowSeconds;
    assert.equal(process.exitCode, null, `the process exited at the fd limit:\n${output.text}`);
    t.diagnostic(
      `${adapter}: ${cpuWhileFull.toFixed(2)} CPU seconds in ${windowSeconds.toFixed(1)} s with the fd table full, ` +
        `runnable ${(runnableShare * 100).toFixed(0)}% of the time`,
    );
    // loose on purpose: a spinning accept loop is runnable ~100% of the window, a waiting one ~0%
    assert.ok(runnableShare < 0.5, `${adapter} spins while the fd table is full: runnable ${runnableShare}`);

    process.stdin.write("free\n");
    await nextLine(output, /freed/, process, 10_000);
    let tcpAnswer = "";
    let httpAnswer = "";
    const deadline = Date.now() + 15_000;
    const settled = () => tcpAnswer === "ping" && httpAnswer === "200";
    while (Date.now() < deadline && !settled()) {
      if (tcpAnswer !== "ping") tcpAnswer = await echo(port);
      if (httpAnswer !== "200") httpAnswer = await httpStatus(http!);
      if (!settled()) await new Promise((wake) => setTimeout(wake, 200));
    }
    assert.equal(tcpAnswer, "ping", `the listener accepts again after fds are freed:\n${output.text}`);
    assert.equal(httpAnswer, "200", `the HTTP server answers again after fds are freed:\n${output.text}`);
    assert.equal(process.exitCode, null, `the process exited:\n${output.text}`);
    process.kill("SIGKILL");
  });
}
