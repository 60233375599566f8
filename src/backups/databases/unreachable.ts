import { describeError, GlobalRollbackError } from "../../errors.js";

/**
 * A database a rollback must restore cannot be reached with what this process has (the password
 * was inline in the manifest of an earlier process, $PASSWORD_ENV is not set, the server is down).
 * Found when the rollback verifies its point, before anything is restored: a rollback that put
 * the files back and not the database would leave code and schema out of step.
 */
export class UnreachableDatabase extends GlobalRollbackError {
  constructor(what: string, passwordSource: string, cause: unknown) {
    super(
      "DATABASE_FAILED",
      `cannot connect to ${what} to restore it (${passwordSource}): ${describeError(cause)}; the rollback stopped before anything was restored: make the password available and run it again`,
      { cause, context: { database: what } },
    );
  }
}

/** Connect with `probe`; its failure becomes an UnreachableDatabase naming the password source. */
export async function reachable(
  what: string,
  passwordSource: string,
  probe: () => Promise<unknown>,
): Promise<void> {
  try {
    await probe();
  } catch (error) {
    throw new UnreachableDatabase(what, passwordSource, error);
  }
}
