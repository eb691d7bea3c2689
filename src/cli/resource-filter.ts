/**
 * ADC's `--include-resource-type` / `--exclude-resource-type`, shared by `sluice apply` and `sluice dump`:
 * each may be repeated or take a comma-separated list of ADC's resource type names.
 */
import { type AdcResourceType, adcResourceTypes } from "../compat/adc-fields.ts";
import type { ResourceFilter } from "../declarative/adc-input.ts";
import { UsageError } from "./command.ts";

export const resourceFilterFlags = {
  "include-resource-type": { type: "string", multiple: true },
  "exclude-resource-type": { type: "string", multiple: true },
} as const;

export const RESOURCE_FILTER_HELP = `  --include-resource-type TYPE  only this ADC resource type (repeatable): ${adcResourceTypes.join(", ")}
  --exclude-resource-type TYPE  leave this ADC resource type out (repeatable), e.g. route, consumer, ssl
`;

export function parseResourceFilter(values: {
  "include-resource-type"?: string[];
  "exclude-resource-type"?: string[];
}): ResourceFilter {
  const read = (flag: string, given: string[] | undefined): AdcResourceType[] | undefined => {
    if (!given) return undefined;
    const types = given.flatMap((v) => v.split(",")).map((t) => t.trim());
    for (const t of types) {
      if (!(adcResourceTypes as readonly string[]).includes(t)) {
        throw new UsageError(`--${flag}: unknown resource type '${t}' (one of ${adcResourceTypes.join(", ")})`);
      }
    }
    return types as AdcResourceType[];
  };
  const include = read("include-resource-type", values["include-resource-type"]);
  const exclude = read("exclude-resource-type", values["exclude-resource-type"]);
  if (include && exclude) throw new UsageError("use either --include-resource-type or --exclude-resource-type");
  return { ...(include ? { include } : {}), ...(exclude ? { exclude } : {}) };
}
