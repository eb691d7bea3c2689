/** A refusal the admin API turns into an HTTP status with `{"error_msg"}`; thrown inside transactions so they roll back. */
export class StoreError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = "StoreError";
  }
}

export const notFound = (what: string, id: string) => new StoreError(404, `${what} ${id} not found`);
export const conflict = (message: string) => new StoreError(409, message);
export const invalid = (message: string) => new StoreError(400, message);
