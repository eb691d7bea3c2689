#!/usr/bin/env node
// `sluice` on Node: loads tsx so the TypeScript sources run as they are, then the Node entry point.
import { register } from "tsx/esm/api";

register();
await import("../runtime/node/main.ts");
