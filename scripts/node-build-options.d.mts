import type { BuildOptions } from "esbuild";

export function nodeBuildOptions(root: string, outdir: string): BuildOptions & { metafile: true };
