/**
 * zod issues → the admin API's error text: `invalid "server_port": must be <= 65535`,
 * `unknown field "bogus"`. The message names the field (dotted path) and the rule it broke.
 */
import type { z } from "zod";

type Issue = z.core.$ZodIssue;

export function describeIssue(issue: Issue, prefix: readonly PropertyKey[] = []): string {
  const path = [...prefix, ...issue.path].map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    const fields = issue.keys.map((k) => `"${path ? `${path}.` : ""}${k}"`).join(", ");
    return `unknown field ${fields}`;
  }
  const field = path ? `"${path}"` : "body";
  return `invalid ${field}: ${rule(issue)}`;
}

function rule(issue: Issue): string {
  switch (issue.code) {
    case "invalid_type":
      // zod 4 leaves `input` out of issues unless asked, but its message says what was received
      return /received undefined$/.test(issue.message) ? "is required" : `must be ${article(issue.expected)}`;
    case "too_big":
      if (issue.origin === "string") return `length must be <= ${issue.maximum}`;
      if (issue.origin === "array") return `must have at most ${issue.maximum} items`;
      return `must be ${issue.inclusive === false ? "<" : "<="} ${issue.maximum}`;
    case "too_small":
      if (issue.origin === "string") return `length must be >= ${issue.minimum}`;
      if (issue.origin === "array") return `must have at least ${issue.minimum} items`;
      return `must be ${issue.inclusive === false ? ">" : ">="} ${issue.minimum}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_format":
      return issue.message && !issue.message.startsWith("Invalid") ? issue.message : `must be a valid ${issue.format}`;
    case "invalid_union":
      return unionRule(issue);
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    case "invalid_key":
      return `has an invalid key: ${issue.issues.map((i) => rule(i)).join("; ")}`;
    case "invalid_element":
      return `has an invalid element: ${issue.issues.map((i) => rule(i)).join("; ")}`;
    default:
      return issue.message;
  }
}

/** the branch that got furthest is the one the user meant (e.g. nodes as an array of bad nodes) */
function unionRule(issue: Extract<Issue, { code: "invalid_union" }>): string {
  const branches = issue.errors.filter((b) => b.length > 0);
  const deepest = branches
    .flat()
    .filter((i) => i.code !== "invalid_type" || i.path.length > 0)
    .sort((a, b) => b.path.length - a.path.length)[0];
  if (deepest) return `${deepest.path.length ? `"${deepest.path.join(".")}" ` : ""}${rule(deepest)}`;
  return issue.message;
}

function article(type: string): string {
  if (type === "object" || type === "array") return `an ${type}`;
  return `a ${type}`;
}
