/**
 * `sluice apply -f sluice.yaml [--diff]`: make a control plane hold exactly the stream services of a
 * declarative (ADC-format) file and publish them to a gateway group. Idempotent; `--diff` only prints
 * the steps. An invalid file changes nothing: it is validated in full (with the admin API's own
 * schemas and the group's port ranges) before the first write.
 */
import { readFile } from "node:fs/promises";
import { AdminClient } from "../../declarative/admin-client.ts";
import {
  describeStep,
  executePlan,
  loadSnapshot,
  planApply,
  portRangeProblems,
  sslKeyProblems,
} from "../../declarative/apply-plan.ts";
import { DeclarativeError, parseDeclarative } from "../../declarative/file-format.ts";
import { type CliCommand, parseFlags, UsageError } from "../command.ts";
import { parseResourceFilter, RESOURCE_FILTER_HELP, resourceFilterFlags } from "../resource-filter.ts";

export const APPLY_HELP = `Usage: sluice apply -f sluice.yaml [--diff] [options]

Syncs the stream services of a declarative file (API7 ADC format) to a control plane and publishes
them to a gateway group. Stream services missing from the file are unpublished and deleted; the file's
ssls, global_rules and plugin_metadata become the group's. Fields that have no effect on a stream
(HTTP-only settings) are kept and listed.

  -f, --file FILE     the file (YAML or JSON); '-' reads stdin
  --diff              print what would change, change nothing
  --group NAME        gateway group to publish to (default "default"; ADC's --gateway-group works too)
  --admin-url URL     control plane (env SLUICE_ADMIN_URL, default http://127.0.0.1:9180)
  --admin-key KEY     admin key (env SLUICE_ADMIN_KEY)
${RESOURCE_FILTER_HELP}`;

export const applyCommand: CliCommand = {
  name: "apply",
  help: APPLY_HELP,
  run: (argv) => runApplyCommand(argv),
};

async function runApplyCommand(argv: string[]): Promise<number> {
  const values = parseOptions(argv);
  if (!values.file) throw new UsageError("sluice apply needs -f FILE");
  const text = values.file === "-" ? await readStdin() : await readFile(values.file, "utf8");
  let file: ReturnType<typeof parseDeclarative>;
  try {
    file = parseDeclarative(text, values.file, parseResourceFilter(values));
  } catch (error) {
    if (!(error instanceof DeclarativeError)) throw error;
    console.error(`${values.file} is invalid, nothing changed:\n  ${error.problems.join("\n  ")}`);
    return 1;
  }
  const client = new AdminClient(
    values["admin-url"] ?? process.env.SLUICE_ADMIN_URL ?? "http://127.0.0.1:9180",
    values["admin-key"] ?? process.env.SLUICE_ADMIN_KEY,
  );
  const group = values.group ?? values["gateway-group"] ?? "default";
  const snapshot = await loadSnapshot(client, group);
  const problems = portRangeProblems(file, snapshot.group.stream_port_ranges);
  if (problems.length > 0) {
    console.error(`${values.file} does not fit gateway group '${group}', nothing changed:\n  ${problems.join("\n  ")}`);
    return 1;
  }
  for (const note of file.notes) console.log(`note: ${note}`);
  const steps = planApply(file, snapshot);
  const keyProblems = sslKeyProblems(steps);
  if (keyProblems.length > 0) {
    console.error(`${values.file} cannot be applied, nothing changed:\n  ${keyProblems.join("\n  ")}`);
    return 1;
  }
  if (steps.length === 0) {
    console.log("no changes");
    return 0;
  }
  for (const step of steps) console.log(describeStep(step, snapshot.group.name));
  if (values.diff) {
    console.log(`${steps.length} change(s) would be made (--diff: nothing changed)`);
    return 0;
  }
  await executePlan(client, snapshot, steps);
  console.log(`applied ${steps.length} change(s)`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function parseOptions(argv: string[]) {
  return parseFlags(argv, {
    file: { type: "string", short: "f" },
    diff: { type: "boolean" },
    group: { type: "string" },
    "gateway-group": { type: "string" },
    "admin-url": { type: "string" },
    "admin-key": { type: "string" },
    ...resourceFilterFlags,
  });
}
