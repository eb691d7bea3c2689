/** `sluice dump`: print a control plane's stream services and routes as a declarative (ADC-format) YAML file. */
import { writeFile } from "node:fs/promises";
import { managedBy } from "../../declarative/adc-input.ts";
import { AdminClient } from "../../declarative/admin-client.ts";
import { loadSnapshot } from "../../declarative/apply-plan.ts";
import { dumpSnapshot } from "../../declarative/dump.ts";
import { type CliCommand, parseFlags } from "../command.ts";
import { parseResourceFilter, RESOURCE_FILTER_HELP, resourceFilterFlags } from "../resource-filter.ts";

export const DUMP_HELP = `Usage: sluice dump [-o FILE] [options]

Prints the stream services and their stream routes, and the group's certificates (keys as references
to the stored ones), global_rules and plugin_metadata, as an ADC file that 'sluice apply -f' and API7's
ADC read.

  -o, --output FILE   write to FILE instead of stdout
  --admin-url URL     control plane (env SLUICE_ADMIN_URL, default http://127.0.0.1:9180)
  --group NAME        gateway group (default "default"; ADC's --gateway-group works too)
  --admin-key KEY     admin key (env SLUICE_ADMIN_KEY)
${RESOURCE_FILTER_HELP}`;

export const dumpCommand: CliCommand = {
  name: "dump",
  help: DUMP_HELP,
  run: (argv) => runDumpCommand(argv),
};

async function runDumpCommand(argv: string[]): Promise<number> {
  const values = parseOptions(argv);
  const client = new AdminClient(
    values["admin-url"] ?? process.env.SLUICE_ADMIN_URL ?? "http://127.0.0.1:9180",
    values["admin-key"] ?? process.env.SLUICE_ADMIN_KEY,
  );
  const kinds = managedBy(parseResourceFilter(values));
  const yaml = dumpSnapshot(await loadSnapshot(client, values.group ?? values["gateway-group"] ?? "default"), kinds);
  if (values.output) await writeFile(values.output, yaml);
  else process.stdout.write(yaml);
  return 0;
}

function parseOptions(argv: string[]) {
  return parseFlags(argv, {
    output: { type: "string", short: "o" },
    group: { type: "string" },
    "gateway-group": { type: "string" },
    "admin-url": { type: "string" },
    "admin-key": { type: "string" },
    ...resourceFilterFlags,
  });
}
