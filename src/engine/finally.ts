import type { ServiceManager } from "../backups/services/manager.js";
import type { WrittenManifest } from "../manifest/types.js";
import type { Containment } from "../processes/containment.js";
import { executeStep } from "../steps/execute.js";
import type { StepRecorder } from "./recorder.js";
import type { Outcome } from "./types.js";

/** The outcomes after which `finally` steps run: the update started and its fate is known. */
const AFTER: ReadonlySet<Outcome> = new Set([
  "committed",
  "rolledBack",
  "rollbackFailed",
  "failedForward",
]);

/**
 * Run the manifest's `finally` steps whose `when` names `outcome` (all of them without `when`),
 * each once, in order, contained like any step. A failure is recorded in the run's report and
 * log and never changes the outcome or stops the next finally step.
 */
export async function runFinallySteps(
  context: {
    manifest: WrittenManifest;
    manifestFile: string;
    services: ServiceManager;
    recorder: StepRecorder;
    containment: Containment;
  },
  outcome: Outcome,
): Promise<void> {
  // A watch's rollback is a rollback: `when: [rolledBack]` means it too.
  const as = outcome === "watchRolledBack" ? "rolledBack" : outcome;
  if (!AFTER.has(as)) return;
  const { manifest, recorder } = context;
  for (const step of manifest.finally ?? []) {
    if (step.when && !step.when.includes(as as (typeof step.when)[number])) continue;
    await recorder
      .run(
        step.id,
        (onLines) =>
          executeStep(step, {
            manifestFile: context.manifestFile,
            databases: manifest.rollbackPoint?.databases ?? [],
            services: context.services,
            containment: context.containment,
            signal: new AbortController().signal,
            onLines,
          }),
        "finally",
      )
      .catch(() => undefined);
  }
}
