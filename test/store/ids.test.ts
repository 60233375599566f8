import { describe, expect, it } from "vitest";
import { GlobalRollback, GlobalRollbackError } from "../../src/index.js";
import { assertValidId, newId } from "../../src/store/ids.js";
import { tempDir } from "../helpers/tree.js";

describe("backup ids", () => {
  it("differ for the same kind in the same millisecond", () => {
    const now = new Date("2026-01-01T12:00:00.123Z");
    const ids = [newId("file", now), newId("file", now), newId("file", now)];
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^f-20260101T120000Z-[0-9a-f]{16}$/);
  });

  it("are validated before they reach a path or a query", async () => {
    for (const bad of [
      "../../etc/passwd",
      "f-1",
      "",
      "f-20260101T120000Z-0123456789abcdeg",
      "x; DROP TABLE",
    ]) {
      expect(() => assertValidId(bad)).toThrow(GlobalRollbackError);
    }
    const rollback = new GlobalRollback({ backupDir: await tempDir() });
    await expect(rollback.restoreBackup("../../etc")).rejects.toMatchObject({
      code: "INVALID_BACKUP_ID",
    });
    await expect(
      rollback.restoreBackup("f-20260101T120000Z-0123456789abcdef"),
    ).rejects.toMatchObject({
      code: "BACKUP_NOT_FOUND",
    });
    await rollback.close();
  });
});
