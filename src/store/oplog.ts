import { appendFileSync } from "node:fs";
import { describeError } from "../errors.js";

/** One line of `operations.log`. Never holds a secret: callers pass ids, paths and outcomes. */
export interface OperationRecord {
  op: string;
  outcome: "ok" | "failed" | "started";
  backupId?: string;
  pointId?: string;
  moduleName?: string;
  path?: string;
  detail?: string;
}

/**
 * The audit log is append-only JSON lines. Each record is one write(2) on an O_APPEND descriptor,
 * so concurrent readers never see half a line and a crash loses at most the last record.
 */
export class OperationLog {
  constructor(readonly path: string) {}

  private warned = false;

  /**
   * Append one record. The audit log records what happened; it is not what happened: a record
   * that cannot be written (a full disk, an immutable file) never turns a completed restore or
   * backup into a failure. It is reported once per process as a warning on stderr instead.
   */
  append(record: OperationRecord): void {
    const line = `${JSON.stringify({ ts: new Date().toISOString(), pid: process.pid, ...record })}\n`;
    try {
      appendFileSync(this.path, line, { mode: 0o600 });
    } catch (error) {
      if (this.warned) return;
      this.warned = true;
      process.emitWarning(
        `the audit log ${this.path} could not be written (${describeError(error)}); the operation itself is not affected`,
        { type: "RollpointWarning", code: "AUDIT_LOG_UNWRITABLE" },
      );
    }
  }
}
