/**
 * A `log_format` (syslog's, and APISIX's `plugin_metadata` one) compiled once per config: every
 * `$variable` is looked up when the config is compiled, so writing a log entry reads values and builds
 * the object, parsing nothing. The shape is APISIX's (apisix/utils/log-util.lua `gen_log_format`):
 * field → `"$variable"` (the value, typed: numbers stay numbers), a literal (any JSON value), or a nested
 * object or array of the same, at most 5 levels deep. Sluice adds templates: a text with `$variables` in
 * it (`"$remote_addr:$remote_port"`) is expanded (APISIX would read a variable of that whole name, which
 * never exists).
 */
import { sessionReader, type VariableReader } from "./session-variables.ts";
import type { StreamSession } from "./types.ts";

/** APISIX's `MAX_LOG_FORMAT_DEPTH` */
export const maxLogFormatDepth = 5;

type CompiledValue =
  | { kind: "variable"; read: VariableReader }
  | { kind: "template"; parts: readonly (string | VariableReader)[] }
  | { kind: "literal"; value: unknown }
  | { kind: "object"; fields: readonly (readonly [string, CompiledValue])[] }
  | { kind: "array"; items: readonly CompiledValue[] };

/** a compiled `log_format`: hand it to `renderLogEntry` */
export interface CompiledLogFormat {
  readonly root: CompiledValue & { kind: "object" };
}

export interface LogFormatProblem {
  /** where in the `log_format` object, e.g. `["client", "addr"]` */
  path: (string | number)[];
  message: string;
}

/** a `log_format` that does not compile; `problems` name each field and what was wrong */
export class LogFormatError extends Error {
  constructor(readonly problems: LogFormatProblem[]) {
    super(problems.map((p) => `${["log_format", ...p.path].join(".")}: ${p.message}`).join("; "));
  }
}

const wholeVariable = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;
const anyVariable = /\$([A-Za-z_][A-Za-z0-9_]*)/g;

function compileString(text: string, path: (string | number)[], problems: LogFormatProblem[]): CompiledValue {
  const whole = wholeVariable.exec(text);
  if (whole) {
    const read = sessionReader(whole[1]!);
    if (read) return { kind: "variable", read };
    problems.push({ path, message: `unknown variable '$${whole[1]}'` });
    return { kind: "literal", value: undefined };
  }
  if (!text.includes("$")) return { kind: "literal", value: text };
  const parts: (string | VariableReader)[] = [];
  let last = 0;
  for (const match of text.matchAll(anyVariable)) {
    const read = sessionReader(match[1]!);
    if (!read) problems.push({ path, message: `unknown variable '$${match[1]}'` });
    if (match.index > last) parts.push(text.slice(last, match.index));
    if (read) parts.push(read);
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return { kind: "template", parts };
}

function compileValue(
  value: unknown,
  path: (string | number)[],
  depth: number,
  problems: LogFormatProblem[],
): CompiledValue {
  if (typeof value === "string") return compileString(value, path, problems);
  if (value === null || typeof value !== "object") return { kind: "literal", value };
  if (depth >= maxLogFormatDepth) {
    problems.push({ path, message: `nested deeper than ${maxLogFormatDepth} levels` });
    return { kind: "literal", value: undefined };
  }
  if (Array.isArray(value)) {
    return { kind: "array", items: value.map((item, i) => compileValue(item, [...path, i], depth + 1, problems)) };
  }
  return compileObject(value as Record<string, unknown>, path, depth + 1, problems);
}

function compileObject(
  format: Record<string, unknown>,
  path: (string | number)[],
  depth: number,
  problems: LogFormatProblem[],
): CompiledValue & { kind: "object" } {
  const fields: [string, CompiledValue][] = [];
  for (const [field, value] of Object.entries(format)) {
    fields.push([field, compileValue(value, [...path, field], depth, problems)]);
  }
  return { kind: "object", fields };
}

/** what is wrong with a `log_format` (unknown variables, too deep), without compiling it for use */
export function logFormatProblems(format: Readonly<Record<string, unknown>>): LogFormatProblem[] {
  const problems: LogFormatProblem[] = [];
  compileObject(format, [], 1, problems);
  return problems;
}

/**
 * Compiles a `log_format` once (per config): the object, or its JSON text. Throws `LogFormatError`
 * naming every unknown variable; for plugin schemas, `logFormatProblems` gives the same findings as issues.
 */
export function compileLogFormat(format: Readonly<Record<string, unknown>> | string): CompiledLogFormat {
  const problems: LogFormatProblem[] = [];
  const root = compileObject(typeof format === "string" ? parseFormatText(format) : format, [], 1, problems);
  if (problems.length > 0) throw new LogFormatError(problems);
  return { root };
}

function parseFormatText(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new LogFormatError([{ path: [], message: `is not JSON: ${(error as Error).message}` }]);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new LogFormatError([{ path: [], message: "must be a JSON object" }]);
  }
  return parsed as Record<string, unknown>;
}

function render(value: CompiledValue, session: StreamSession): unknown {
  switch (value.kind) {
    case "variable":
      return value.read(session);
    case "literal":
      return value.value;
    case "template": {
      let text = "";
      for (const part of value.parts) text += typeof part === "string" ? part : (part(session) ?? "");
      return text;
    }
    case "array":
      return value.items.map((item) => render(item, session) ?? null);
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [field, inner] of value.fields) {
        const v = render(inner, session);
        if (v !== undefined) out[field] = v;
      }
      return out;
    }
  }
}

/** the log entry of one ended session; unset variables leave their field out, as APISIX's nil does */
export function renderLogEntry(format: CompiledLogFormat, session: StreamSession): Record<string, unknown> {
  return render(format.root, session) as Record<string, unknown>;
}
