import { getSystemErrorName } from "node:util";

/** The error for a libuv status (negative errno) returned by a handle call, with `code` as Node names it. */
export function uvError(status: number, syscall: string): Error & { code: string } {
  let code = "EUNKNOWN";
  try {
    code = getSystemErrorName(status);
  } catch {
    // not a libuv error number: keep EUNKNOWN
  }
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: status, syscall });
}
