import type { BackupRow } from "../store/catalog.js";
import type { Store } from "../store/store.js";
import { kindOf } from "./members.js";
import type { PreparedRestore } from "./operation.js";
import type { ServiceManager } from "./services/manager.js";

export { failedOperation, type PreparedRestore } from "./operation.js";

/**
 * Check what a restore of `row` needs before anything live is touched (every object it will
 * read is re-hashed; a mismatch throws VERIFY_FAILED), and return how to apply it: as its
 * member kind does it (members.ts).
 */
export function prepareRestore(
  store: Store,
  row: BackupRow,
  services: ServiceManager,
): Promise<PreparedRestore> {
  return kindOf(row).prepareRestore(store, row, services);
}
