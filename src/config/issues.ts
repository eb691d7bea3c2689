/**
 * The one place that says what is wrong with an input, for every reader of user input: the admin API,
 * the declarative file, the gateway heartbeat and the data plane's plugin check. A zod issue becomes a
 * `Problem` (where, and which rule it broke, in one wording: `must be <= 65535`, `is required`,
 * `unknown field "bogus"`); it is then written for an API answer (`invalid "server_port": must be <= 65535`)
 * or for a file's problem list (`services[0].stream_routes[0].server_port: must be <= 65535`).
 */
import type { z } from "zod";

type Issue = z.core.$ZodIssue;

export type Problem =
  | { kind: "rule"; path: readonly PropertyKey[]; rule: string }
  | { kind: "unknown-fields"; path: readonly PropertyKey[]; keys: readonly string[] }
  | { kind: "unknown-plugin"; path: readonly PropertyKey[]; name: string }
  /** a refusal that reads as a whole sentence (`service type cannot be changed`) */
  | { kind: "refused"; path: readonly PropertyKey[]; reason: string };

export function issueProblem(issue: Issue, prefix: readonly PropertyKey[] = []): Problem {
  const path = [...prefix, ...issue.path];
  if (issue.code === "unrecognized_keys") return { kind: "unknown-fields", path, keys: issue.keys };
  return { kind: "rule", path, rule: rule(issue) };
}

/** every issue of a failed parse, in zod's order */
export function problemsOf(error: z.ZodError, prefix: readonly PropertyKey[] = []): Problem[] {
  return error.issues.map((issue) => issueProblem(issue, prefix));
}

/** an API answer's `error_msg`: the field as a dotted path (`upstream.nodes.0.port`) */
export function apiMessage(problem: Problem): string {
  const path = problem.path.map(String).join(".");
  switch (problem.kind) {
    case "unknown-fields":
      return `unknown field ${problem.keys.map((k) => `"${path ? `${path}.` : ""}${k}"`).join(", ")}`;
    case "unknown-plugin":
      return `unknown plugin [${problem.name}]`;
    case "refused":
      return problem.reason;
    case "rule":
      return `invalid ${path ? `"${path}"` : "body"}: ${problem.rule}`;
  }
}

/** a line of a file's problem list: the field as `services[0].stream_routes[1].server_port` */
export function fileMessage(problem: Problem): string {
  const at = formatPath(problem.path);
  switch (problem.kind) {
    case "unknown-fields":
      return `${at}: unknown field ${problem.keys.map((k) => `"${k}"`).join(", ")}`;
    case "unknown-plugin":
      return `${at}: unknown plugin [${problem.name}]`;
    case "refused":
      return `${at}: ${problem.reason}`;
    case "rule":
      return `${at}: ${problem.rule}`;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || "(file)";
}

/** the API text of a zod issue (shorthand for the first issue of a failed parse) */
export function describeIssue(issue: Issue, prefix: readonly PropertyKey[] = []): string {
  return apiMessage(issueProblem(issue, prefix));
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
