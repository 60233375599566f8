import { randomBytes } from "node:crypto";
import { GlobalRollbackError } from "../errors.js";

export type IdKind = "file" | "service" | "database" | "container" | "package" | "point" | "run";

const PREFIX: Record<IdKind, string> = {
  file: "f",
  service: "s",
  database: "d",
  container: "c",
  package: "k",
  point: "p",
  run: "r",
};

// The original derived ids from the description and the second, so several backups taken in
// the same second overwrote each other. A timestamp keeps ids sortable for people; 64 random bits
// make them unique, and the catalog's primary key turns the unthinkable collision into a retry.
export function newId(kind: IdKind, now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${PREFIX[kind]}-${stamp}-${randomBytes(8).toString("hex")}`;
}

const ID_PATTERN = /^[a-z]-\d{8}T\d{6}Z-[0-9a-f]{16}$/;

/** Ids reach file names and SQL; anything not shaped like one of ours is refused before use. */
export function assertValidId(id: unknown, what = "backup id"): asserts id is string {
  if (typeof id !== "string" || !ID_PATTERN.test(id)) {
    throw new GlobalRollbackError(
      "INVALID_BACKUP_ID",
      `invalid ${what} ${JSON.stringify(id)}: expected something like f-20260101T120000Z-0123456789abcdef`,
      { context: typeof id === "string" ? { backupId: id } : {} },
    );
  }
}
