import { join } from "node:path";
import type { BackupRow } from "../store/catalog.js";
import type { Store } from "../store/store.js";
import type { VerifyProblem, VerifyReport } from "./types.js";

/** Re-hash every object a backup references; names each damaged or missing path. */
export async function verifyBackupObjects(store: Store, row: BackupRow): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const checked = new Map<string, "ok" | "missing" | "mismatch">();
  for (const entry of store.catalog.entries(row.id)) {
    if (!entry.hash) continue;
    let result = checked.get(entry.hash);
    if (result === undefined) {
      result = await store.objects.check(entry.hash);
      checked.set(entry.hash, result);
    }
    if (result !== "ok") {
      problems.push({
        backupId: row.id,
        path: entry.rel === "" ? row.source : join(row.source, entry.rel),
        hash: entry.hash,
        problem: result,
      });
    }
  }
  return { backupId: row.id, ok: problems.length === 0, objectsChecked: checked.size, problems };
}
