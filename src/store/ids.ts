import { randomBytes } from "node:crypto";

/** server-generated ids: 16 hex characters, unguessable and short enough to type */
export function newId(): string {
  return randomBytes(8).toString("hex");
}
