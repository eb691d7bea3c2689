/**
 * What PostgreSQL can store as `text` or inside `jsonb`: no NUL character and no unpaired UTF-16
 * surrogate (neither has a UTF-8 encoding the server accepts). Input is checked against this before it
 * reaches a query, so such text is a 400 naming the field instead of a failed query.
 */

/** the path of the first string (key or value) PostgreSQL cannot store, or undefined when all can be */
export function unstorableTextPath(value: unknown, path: readonly PropertyKey[] = []): PropertyKey[] | undefined {
  if (typeof value === "string") return storable(value) ? undefined : [...path];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorableTextPath(value[i], [...path, i]);
      if (found) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (!storable(key)) return [...path, key];
      const found = unstorableTextPath(item, [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function storable(text: string): boolean {
  return !text.includes("\0") && !loneSurrogate.test(text);
}

const RULE = "must not contain NUL characters or unpaired UTF-16 surrogates";

/** an API answer's `error_msg` naming the first unstorable field, or undefined when every string is storable */
export function unstorableTextError(value: unknown): string | undefined {
  const path = unstorableTextPath(value);
  if (!path) return undefined;
  return path.length ? `invalid "${path.map(String).join(".")}": ${RULE}` : `invalid body: ${RULE}`;
}
