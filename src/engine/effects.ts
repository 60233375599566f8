import { evidenceLists, memberListsOf, plannedMembers } from "../backups/members.js";
import { createPoint } from "../backups/point.js";
import { describeError } from "../errors.js";
import { DEFAULTS } from "../manifest/defaults.js";
import { runPreflight } from "../plan/preflight.js";
import type { Containment } from "../processes/containment.js";
import { runCommand } from "../processes/process.js";
import { executeStep } from "../steps/execute.js";
import type { EngineActions } from "./machine.js";
import type { StepRecorder } from "./recorder.js";
import type { RunOptions } from "./types.js";

/** The machine's effects for one run. */
export function engineActions(
  options: RunOptions,
  recorder: StepRecorder,
  containment: Containment,
): EngineActions {
  const { store, services, manifest } = options;
  // Looked up by id at every step and undo: a map, not a scan (plan is tested at 20,000 steps).
  const stepsById = new Map(manifest.steps.map((s) => [s.id, s]));
  const pointTaking = new AbortController();
  return {
    async preflight() {
      const report = await runPreflight(manifest, {
        storeDir: store.dir,
        services,
        catalog: store.catalog,
      });
      const failed = report.checks.filter((c) => !c.ok);
      if (failed.length)
        throw new Error(
          `preflight failed: ${failed.map((c) => `${c.subject}: ${c.detail}`).join("; ")}`,
        );
    },
    async takeRollbackPoint() {
      const pointId = await createPoint(
        store,
        services,
        {
          moduleName: manifest.name,
          description: `${manifest.name}${manifest.version ? ` ${manifest.version}` : ""}: before the update`,
          ...memberListsOf(manifest.rollbackPoint ?? {}),
        },
        pointTaking.signal,
      );
      return { pointId };
    },
    abandonPoint(reason) {
      pointTaking.abort(reason);
    },
    async runStep(stepId, signal) {
      const step = stepsById.get(stepId)!;
      await recorder.run(stepId, (onLines) =>
        executeStep(step, {
          manifestFile: options.manifestFile,
          databases: manifest.rollbackPoint?.databases ?? [],
          services,
          containment,
          signal,
          onLines,
          ...(options.clock ? { clock: options.clock } : {}),
        }),
      );
    },
    async settle() {
      // An aborted step's processes get their SIGTERM, grace and SIGKILL before anything is
      // restored: nothing of the update writes while restores run. If they cannot be stopped,
      // nothing is restored (PROCESSES_SURVIVED) and the run ends rollbackFailed.
      try {
        await containment.settle();
      } catch (error) {
        recorder.survivors = describeError(error);
        recorder.log("rollback", [recorder.survivors]);
        throw error;
      }
    },
    async keepEvidence() {
      try {
        const pointId = await createPoint(store, services, {
          moduleName: manifest.name,
          description: `${manifest.name}: the failed state, kept before the rollback (keepFailedState)`,
          ...evidenceLists(memberListsOf(manifest.rollbackPoint ?? {})),
        });
        recorder.evidencePointId = pointId;
        recorder.log("rollback", [`the failed state is kept as rollback point ${pointId}`]);
        return true;
      } catch (error) {
        recorder.log("rollback", [`the failed state could not be kept: ${describeError(error)}`]);
        return false;
      }
    },
    async undo(stepId) {
      const undo = stepsById.get(stepId)?.undo;
      if (!undo) return true;
      const outcome = await runCommand(undo, {
        signal: new AbortController().signal,
        timeoutMs: DEFAULTS.undoTimeoutMs,
        jail: containment.enter(`undo ${stepId}`),
        onLines: (lines) => recorder.relay(`undo ${stepId}`, lines),
      });
      const good = outcome.exitCode === 0;
      recorder.undos.push({
        stepId,
        ok: good,
        detail: good
          ? undo.join(" ")
          : `${undo.join(" ")} exited with ${outcome.exitCode ?? outcome.signal}`,
      });
      return good;
    },
    // The point's restore, a phase per state; the same PointRestore carries the prepared
    // (verified) members from `verify` to each `restore.<member>` of this process.
    async verifyPoint(pointId) {
      await recorder
        .pointRestore(store, services, pointId)
        .prepareAll(plannedMembers(memberListsOf(manifest.rollbackPoint ?? {})));
      return true;
    },
    async stopServices(pointId) {
      return recorder.pointRestore(store, services, pointId).stopServices();
    },
    async restoreMember(pointId, seq) {
      return recorder.pointRestore(store, services, pointId).restoreMember(seq);
    },
    async returnServices(pointId) {
      const restore = recorder.pointRestore(store, services, pointId);
      const ok = await restore.returnServices();
      store.log.append({
        op: "restore-point",
        outcome: restore.result().ok ? "ok" : "failed",
        pointId,
      });
      return ok;
    },
  };
}
