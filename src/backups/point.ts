// A rollback point, taken whole or not at all, and restored phase by phase. The core of what the
// library's createRollbackPoint/restoreRollbackPoint and the engine's rollback do.

import { describeError, GlobalRollbackError } from "../errors.js";
import type { BackupRow } from "../store/catalog.js";
import { newId } from "../store/ids.js";
import type { Store } from "../store/store.js";
import { checkpoint } from "../util/checkpoint.js";
import { UnreachableDatabase } from "./databases/unreachable.js";
import { discardExternal, eachKind, kindOf, memberListsOf, type PlannedMember } from "./members.js";
import type { RollbackOperation, RollbackResult } from "./operation.js";
import type { PointSpec } from "./point-spec.js";
import { failedOperation, type PreparedRestore, prepareRestore } from "./restore.js";
import { recordedUnits } from "./services/kind.js";
import type { ServiceManager } from "./services/manager.js";
import { stopUnits, type UnitOutcome } from "./services/restore.js";

export type { PointSpec } from "./point-spec.js";

/**
 * Take every member of a rollback point, or none, in the registry's order (members.ts): files,
 * then databases, then services (recorded last, so they describe the state just before the
 * update). A failed member removes
 * the members already taken (and a clone's snapshot database) and throws ROLLBACK_POINT_FAILED.
 */
export async function createPoint(
  store: Store,
  services: ServiceManager,
  spec: PointSpec,
  // A run interrupted while its point is taken: the take stops and the point is removed.
  signal?: AbortSignal,
): Promise<string> {
  const pointId = newId("point");
  store.catalog.insertPoint({
    id: pointId,
    module: spec.moduleName,
    description: spec.description,
    createdAt: store.clock(),
  });
  let seq = 0;
  const label = () => ({
    description: spec.description,
    moduleName: spec.moduleName,
    pointId,
    pointSeq: seq++,
  });
  try {
    for (const { kind, entries } of eachKind(memberListsOf(spec))) {
      await checkpoint(signal, "taking the rollback point");
      await kind.take(entries, { store, services, label, ...(signal ? { signal } : {}) });
    }
    await checkpoint(signal, "taking the rollback point");
    store.catalog.completePoint(pointId);
  } catch (error) {
    for (const member of store.catalog.pointMembers(pointId))
      await discardExternal(member).catch(() => undefined);
    try {
      store.catalog.deletePoint(pointId);
      await store.objects.collectGarbage(store.catalog.referencedHashes());
    } catch {
      // A full disk can refuse even this catalog write: the point stays pending, and crash
      // cleanup at the next lock drops it and its objects. What is reported is the first failure.
    }
    store.log.append({
      op: "rollback-point",
      outcome: "failed",
      pointId,
      detail: describeError(error),
    });
    throw new GlobalRollbackError(
      "ROLLBACK_POINT_FAILED",
      `rollback point for ${spec.moduleName} not created: ${describeError(error)}`,
      {
        cause: error,
        context: { pointId, ...(error instanceof GlobalRollbackError ? error.context : {}) },
      },
    );
  }
  store.log.append({ op: "rollback-point", outcome: "ok", pointId, moduleName: spec.moduleName });
  return pointId;
}

/**
 * Restore a rollback point in the documented order (docs/rollback-semantics.md): verify every member first (a member that fails
 * verification is left untouched and reported); stop the point's services; restore databases and
 * files in reverse order of backup; return the services to their recorded states. Every member
 * is attempted and reported; `ok` only if all succeeded.
 */
export async function restorePoint(
  store: Store,
  services: ServiceManager,
  pointId: string,
): Promise<RollbackResult> {
  const restore = new PointRestore(store, services, pointId);
  try {
    await restore.prepareAll();
    await restore.stopServices();
    for (const seq of restore.dataMembersLastFirst()) await restore.restoreMember(seq);
    await restore.returnServices();
  } catch (error) {
    // Every member is reported in the result: the caller reads why from there.
    if (!(error instanceof UnreachableDatabase)) throw error;
  }
  const result = restore.result();
  store.log.append({ op: "restore-point", outcome: result.ok ? "ok" : "failed", pointId });
  return result;
}

/**
 * The restore of one rollback point, one phase at a time, so that the engine can make each phase
 * a state of its machine (and `recover` resume at the member it was in): `prepareAll` verifies
 * every member before anything is touched; `restoreMember` applies one (preparing it first if
 * this process has not: after a resume); every phase records its outcome for `result`.
 */
export class PointRestore {
  private readonly members: BackupRow[];
  private readonly prepared = new Map<number, PreparedRestore | RollbackOperation>();
  private readonly stopped: UnitOutcome[] = [];
  private readonly operations: RollbackOperation[] = [];

  constructor(
    private readonly store: Store,
    private readonly services: ServiceManager,
    readonly pointId: string,
  ) {
    this.members = completePointMembers(store, pointId);
  }

  /** The `data` members (files, databases), last taken first: the order they are restored in. */
  dataMembersLastFirst(): number[] {
    return this.members
      .map((row, seq) => ({ row, seq }))
      .filter(({ row }) => kindOf(row).phase === "data")
      .map(({ seq }) => seq)
      .reverse();
  }

  /** Every member in the order a restore takes it: data last taken first, then services. */
  membersInRestoreOrder(): BackupRow[] {
    return [
      ...this.dataMembersLastFirst().map((seq) => this.members[seq]!),
      ...this.stateMembers().map((seq) => this.members[seq]!),
    ];
  }

  /** The `state` members (the services' states), returned after every data member. */
  private stateMembers(): number[] {
    return this.members.flatMap((row, seq) => (kindOf(row).phase === "state" ? [seq] : []));
  }

  /**
   * Verify every member. A database that cannot be reached with what this process has stops the
   * whole restore here, before anything is touched (UnreachableDatabase says why): every member
   * is then reported, the database as failed and the others as not restored, and it is thrown.
   */
  async prepareAll(
    planned?: ReadonlyArray<Pick<PlannedMember, "seq" | "what" | "target">>,
  ): Promise<void> {
    // A point that does not hold what the run's plan restores is refused whole, each member
    // reported, before anything is touched.
    const mismatch = planned && planMismatch(this.pointId, this.members, planned);
    if (mismatch) {
      for (const row of this.membersInRestoreOrder()) {
        const failed = failedOperation(row, mismatch);
        this.operations.push(failed);
        this.prepared.set(this.members.indexOf(row), failed);
      }
      throw mismatch;
    }
    const unreachable: UnreachableDatabase[] = [];
    for (let seq = 0; seq < this.members.length; seq++) {
      await this.prepare(seq, (error) => {
        if (error instanceof UnreachableDatabase) unreachable.push(error);
      });
    }
    const [first] = unreachable;
    if (!first) return;
    for (const row of this.membersInRestoreOrder()) {
      const seq = this.members.indexOf(row);
      const item = this.prepared.get(seq);
      this.operations.push(
        item && !("apply" in item)
          ? item
          : failedOperation(
              row,
              new GlobalRollbackError(
                "RESTORE_FAILED",
                `not restored: the rollback stopped before restoring anything (${first.message})`,
              ),
            ),
      );
      // What a later restoreMember of this point finds: the outcome, never a restore to apply.
      this.prepared.set(seq, this.operations[this.operations.length - 1]!);
    }
    throw first;
  }

  private async prepare(
    seq: number,
    onError?: (error: unknown) => void,
  ): Promise<PreparedRestore | RollbackOperation> {
    let item = this.prepared.get(seq);
    if (!item) {
      const row = this.members[seq]!;
      item = await prepareRestore(this.store, row, this.services).catch((error) => {
        onError?.(error);
        return failedOperation(row, error);
      });
      this.prepared.set(seq, item);
    }
    return item;
  }

  /**
   * Stop the point's services that run, and what its data members would have write into them (a
   * container member's containers), so that nothing writes while data is put back. A member
   * whose writers cannot be stopped is not restored: it is reported failed, saying why.
   */
  async stopServices(): Promise<boolean> {
    const units = this.stateMembers().flatMap((seq) => recordedUnits(this.members[seq]!));
    const outcomes = await stopUnits(this.services, units);
    this.stopped.push(...outcomes);
    let ok = outcomes.every((o) => o.ok);
    for (const seq of this.dataMembersLastFirst()) {
      const row = this.members[seq]!;
      const quiesce = kindOf(row).quiesce;
      if (!quiesce) continue;
      await quiesce(row).catch((error: unknown) => {
        ok = false;
        const why = new GlobalRollbackError(
          "RESTORE_FAILED",
          `not restored: what writes into it could not be stopped first (${describeError(error)})`,
        );
        this.prepared.set(seq, failedOperation(row, why));
      });
    }
    return ok;
  }

  /** Restore member `seq` (of any kind); true when it came back. A missing member is a no-op. */
  async restoreMember(seq: number): Promise<boolean> {
    if (!this.members[seq]) return true;
    const item = await this.prepare(seq);
    const operation =
      "apply" in item
        ? await item.apply().catch((error) => failedOperation(item.row, error))
        : item;
    this.operations.push(operation);
    return operation.outcome !== "failed";
  }

  /** Return every service to its recorded state (enabled/disabled/masked, active/inactive). */
  async returnServices(): Promise<boolean> {
    let ok = true;
    for (const seq of this.stateMembers()) ok = (await this.restoreMember(seq)) && ok;
    return ok;
  }

  result(): RollbackResult {
    const ok =
      this.operations.every((o) => o.outcome !== "failed") && this.stopped.every((s) => s.ok);
    return {
      pointId: this.pointId,
      ok,
      stopped: [...this.stopped],
      operations: [...this.operations],
    };
  }
}

/**
 * What is wrong when `members` (a point's, in the order taken) are not, seq for seq, the members
 * a run's plan restores. The machine restores by seq; a member missing there would be skipped as
 * "nothing to do" and the rollback would say "as it was" of what it never restored (the campaign
 * saw it with a packages member that took one row fewer than it planned).
 */
function planMismatch(
  pointId: string,
  members: readonly BackupRow[],
  planned: ReadonlyArray<Pick<PlannedMember, "seq" | "what" | "target">>,
): GlobalRollbackError | undefined {
  const wrong = planned.filter((m) => members[m.seq]?.type !== m.what);
  if (wrong.length === 0 && members.length === planned.length) return undefined;
  const held = members.map((r) => `${r.type} ${r.source}`).join(", ") || "nothing";
  return new GlobalRollbackError(
    "RESTORE_FAILED",
    `not restored: the rollback point ${pointId} does not hold what this run's plan restores (${planned.map((m) => `${m.what} ${m.target}`).join(", ")}); it holds ${held}, and nothing was restored. Restore its members one by one with \`rollpoint backups restore <backup-id>\` (\`rollpoint backups show ${pointId}\` lists them)`,
    { context: { pointId } },
  );
}

/** The members of a complete rollback point, in the order they were taken. */
export function completePointMembers(store: Store, pointId: string): BackupRow[] {
  if (store.catalog.getPoint(pointId)?.status !== "complete") {
    throw new GlobalRollbackError(
      "BACKUP_NOT_FOUND",
      `no rollback point ${pointId} in store ${store.dir}`,
      { context: { pointId, store: store.dir } },
    );
  }
  return store.catalog.pointMembers(pointId);
}
