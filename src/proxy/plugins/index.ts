/** The stream plugins this build knows, by name. Adding a plugin: one file in this folder and one line here. */
import type { StreamPlugin } from "./types.ts";

// biome-ignore lint/suspicious/noExplicitAny: each plugin has its own config type; the registry is heterogeneous
export const streamPlugins: ReadonlyMap<string, StreamPlugin<any>> = new Map([]);
