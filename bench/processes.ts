/** Child processes of the harness: spawn with captured output, wait for a port, stop, measure RSS. */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { Socket } from "node:net";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface BenchProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr, capped so a chatty process cannot eat memory. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<string>;
  stop(): Promise<void>;
}

const OUTPUT_CAP = 256 * 1024;

/** every process started and not yet gone, so an interrupted run can stop those a workload started too */
const live = new Set<BenchProcess>();

/** Stops every process the harness started that is still running (Ctrl-C / SIGTERM of the harness). */
export async function stopEveryProcess(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

/**
 * Runs `command` with the open-file soft limit raised to the hard limit (idle-connection workloads need
 * 2 descriptors a proxied connection), in its own process group so `stop` reaches its children.
 */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void } = {},
): BenchProcess {
  const quoted = [command, ...args].map(shellQuote).join(" ");
  const child = spawn("bash", ["-c", `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${quoted}`], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let text = "";
  let partial = "";
  const collect = (chunk: Buffer) => {
    const s = chunk.toString("utf8");
    if (text.length < OUTPUT_CAP) text += s;
    if (options.onLine) {
      partial += s;
      let nl = partial.indexOf("\n");
      while (nl >= 0) {
        options.onLine(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
        nl = partial.indexOf("\n");
      }
    }
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<string>((resolve) => {
    child.on("exit", (code, signal) => resolve(signal ?? String(code)));
    child.on("error", (err) => resolve(`spawn error: ${err.message}`));
  });
  let gone = false;
  const started: BenchProcess = {
    name,
    child,
    pid: child.pid ?? -1,
    output: () => text,
    exited,
    async stop() {
      if (gone || child.pid === undefined) return;
      signalGroup(child.pid, "SIGTERM");
      const timedOut = await Promise.race([exited.then(() => false), delay(10_000).then(() => true)]);
      if (timedOut) {
        signalGroup(child.pid, "SIGKILL");
        await Promise.race([exited, delay(2000)]);
      }
    },
  };
  live.add(started);
  void exited.then(() => {
    gone = true;
    live.delete(started);
  });
  return started;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function canConnect(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.connect(port, "127.0.0.1");
  });
}

/** Polls until `port` accepts a TCP connection; throws after `timeoutMs` or when `proc` exits first. */
export async function waitForTcp(port: number, timeoutMs: number, proc?: BenchProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedWith: string | undefined;
  void proc?.exited.then((code) => {
    exitedWith = code;
  });
  while (Date.now() < deadline) {
    if (exitedWith !== undefined) {
      throw new Error(`${proc?.name} exited (${exitedWith}) before port ${port} opened: ${tail(proc?.output() ?? "")}`);
    }
    if (await canConnect(port, 300)) return;
    await delay(50);
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms${proc ? `: ${tail(proc.output())}` : ""}`);
}

export function tail(text: string, chars = 600): string {
  const t = text.trim();
  return t.length > chars ? `…${t.slice(-chars)}` : t;
}

/** Resident set size of `pid` and all its descendants, in bytes (Linux /proc). */
export function treeRssBytes(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited while listing
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      const match = /VmRSS:\s+(\d+) kB/.exec(status);
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // exited
    }
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

/** Runs a load generator to completion, killed after `timeoutMs` so no load can run unbounded. */
export async function runTool(
  command: string,
  args: readonly string[],
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(command, [...args], {
      timeout: timeoutMs,
      killSignal: "SIGKILL",
      maxBuffer: 16 * 1024 * 1024,
      env: env ?? process.env,
    });
    return `${stdout}\n${stderr}`;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string; killed?: boolean };
    const why = e.killed ? `killed after ${timeoutMs} ms` : e.message.split("\n")[0];
    throw new Error(`${command} failed (${why}): ${tail(`${e.stdout ?? ""}\n${e.stderr ?? ""}`)}`);
  }
}

/** The hard open-file limit children get raised to (see startProcess); bounds the idle-connection count. */
export function hardFileLimit(): number {
  const out = execFileSync("bash", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim();
  return out === "unlimited" ? 1_048_576 : Number(out);
}
