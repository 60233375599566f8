import { appendFileSync } from "node:fs";

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

  append(record: OperationRecord): void {
    const line = `${JSON.stringify({ ts: new Date().toISOString(), pid: process.pid, ...record })}\n`;
    appendFileSync(this.path, line, { mode: 0o600 });
  }
}
