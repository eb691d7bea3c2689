/**
 * Why the store refused a change, in the domain's terms; the admin API maps each kind to its HTTP
 * status (src/admin/errors.ts). Thrown inside transactions, so the transaction rolls back.
 */
import { fileMessage, type Problem } from "../config/issues.ts";

export abstract class StoreError extends Error {}

/** the thing named does not exist */
export class NotFoundError extends StoreError {
  override readonly name = "NotFoundError";
}

/** the change contradicts what is stored: a name taken, a route match clash, something still in use */
export class ConflictError extends StoreError {
  override readonly name = "ConflictError";
}

/**
 * What a keyring-less store answers when a private key (a certificate's, an upstream's client key) must
 * be sealed or opened: a control plane started without SLUICE_KEYRING serves everything else (a 409, as
 * the request conflicts with how the server was started).
 */
export class MissingKeyringError extends ConflictError {
  constructor() {
    super(
      "no keyring: this control plane cannot seal or open private keys; start every control plane with SLUICE_KEYRING or SLUICE_KEYRING_FILE (docs/tls.md)",
    );
  }
}

/** the input breaks a rule only the store can check (against stored state) */
export class InvalidError extends StoreError {
  override readonly name = "InvalidError";
  constructor(readonly problem: Problem) {
    super(fileMessage(problem));
  }
}

export const notFound = (what: string, id: string) => new NotFoundError(`${what} ${id} not found`);
export const conflict = (message: string) => new ConflictError(message);
/** `field` breaks `rule` (`field` dotted, e.g. `upstream.nodes`) */
export const invalidField = (field: string, rule: string) =>
  new InvalidError({ kind: "rule", path: field.split("."), rule });
/** a refusal that is not about one field */
export const refused = (reason: string) => new InvalidError({ kind: "refused", path: [], reason });
