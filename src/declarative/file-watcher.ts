/**
 * Reloads a declarative file when it changes (standalone gateway). Polls the file's mtime and size
 * (fs.watch misses edits made by rename, as editors and `kubectl cp` do, and behaves differently per
 * runtime); a change is parsed and compiled, and only a valid file reaches the data plane — a broken
 * edit is logged with every problem and the previous config keeps serving.
 */
import { readFile, stat } from "node:fs/promises";
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/types.ts";
import { compileDeclarative } from "./compile.ts";
import { DeclarativeError, parseDeclarative } from "./file-format.ts";

export async function loadDeclarativeConfig(path: string, version: number, logger?: Logger): Promise<GatewayConfig> {
  const text = await readFile(path, "utf8");
  const file = parseDeclarative(text, path);
  // kept in the config, but said once per load: they change nothing on a stream
  if (file.notes.length > 0)
    logger?.info({ file: path, notes: file.notes }, "fields with no effect on stream services");
  return compileDeclarative(file, version);
}

export class DeclarativeFileWatcher {
  private timer: ReturnType<typeof setInterval> | undefined;
  private stamp = "";
  private version = 0;
  private checking = false;

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
    private readonly onConfig: (config: GatewayConfig) => Promise<void>,
    private readonly intervalMs = 1_000,
  ) {}

  /** loads the file once (throws with the problems when it is invalid), then watches it */
  async start(): Promise<GatewayConfig> {
    this.stamp = await this.currentStamp();
    const config = await loadDeclarativeConfig(this.path, ++this.version, this.logger);
    await this.onConfig(config);
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    return config;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async currentStamp(): Promise<string> {
    const s = await stat(this.path);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      let stamp: string;
      try {
        stamp = await this.currentStamp();
      } catch (error) {
        if (this.stamp !== "missing") {
          this.logger.error(
            { file: this.path, reason: (error as Error).message },
            "config file unreadable, keeping the previous config",
          );
        }
        this.stamp = "missing";
        return;
      }
      if (stamp === this.stamp) return;
      this.stamp = stamp;
      let config: GatewayConfig;
      try {
        config = await loadDeclarativeConfig(this.path, this.version + 1, this.logger);
      } catch (error) {
        const problems = error instanceof DeclarativeError ? error.problems : [(error as Error).message];
        this.logger.error({ file: this.path, problems }, "config file invalid, keeping the previous config");
        return;
      }
      this.version++;
      this.logger.info({ file: this.path, version: config.version }, "config file changed, reloading");
      await this.onConfig(config);
    } catch (error) {
      this.logger.error(
        { file: this.path, reason: (error as Error).message },
        "config reload failed, keeping the previous config",
      );
    } finally {
      this.checking = false;
    }
  }
}
