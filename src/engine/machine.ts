import { assign, fromPromise, setup } from "xstate";
import type { Plan } from "../plan/plan.js";

/** What the machine remembers; persisted with every transition, so recovery knows what ran. */
export interface RunContext {
  pointId: string | null;
  /** Steps that completed, in order: their undos run last-first on rollback. */
  completed: string[];
  failedStep: string | null;
  error: string | null;
}

/** The effects, injected: the machine itself is pure and serializable. */
export interface EngineActions {
  preflight(): Promise<void>;
  takeRollbackPoint(): Promise<{ pointId: string }>;
  runStep(stepId: string, signal: AbortSignal): Promise<void>;
  rollBack(context: RunContext): Promise<{ ok: boolean }>;
}

export type AbortEvent = { type: "ABORT"; reason: string };

/**
 * Compile a plan into the run's state machine: `preflight → rollbackPoint → step.<id>… →
 * committed`, and on a failed step, a timeout or a signal (ABORT): `rollingBack → rolledBack |
 * rollbackFailed`. A step with continueOnError goes on to the next one when it fails.
 */
export function compileMachine(
  plan: Plan,
  actions: EngineActions,
  options: { noRollback?: boolean; resumeRollbackWith?: RunContext } = {},
) {
  const ids = plan.steps.map((s) => s.id);
  const failTarget = options.noRollback ? "#update.failed" : "#update.rollingBack";
  const stepStates = Object.fromEntries(
    plan.steps.map((step, i) => {
      const next = i + 1 < ids.length ? `#update.step.${ids[i + 1]}` : "#update.committed";
      return [
        step.id,
        {
          invoke: {
            src: "runStep" as const,
            input: { stepId: step.id },
            onDone: {
              target: next,
              actions: { type: "stepDone" as const, params: { stepId: step.id } },
            },
            onError: step.continueOnError
              ? { target: next }
              : {
                  target: failTarget,
                  actions: { type: "stepFailed" as const, params: { stepId: step.id } },
                },
          },
        },
      ];
    }),
  );
  return setup({
    types: {
      context: {} as RunContext,
      events: {} as AbortEvent,
    },
    actors: {
      preflight: fromPromise(() => actions.preflight()),
      takeRollbackPoint: fromPromise(() => actions.takeRollbackPoint()),
      runStep: fromPromise(
        ({ input, signal }: { input: { stepId: string }; signal: AbortSignal }) =>
          actions.runStep(input.stepId, signal),
      ),
      rollBack: fromPromise(async ({ input }: { input: RunContext }) => {
        const result = await actions.rollBack(input);
        if (!result.ok) throw new Error("the rollback did not complete");
        return result;
      }),
    },
    actions: {
      stepDone: assign({
        completed: ({ context }, params: { stepId: string }) => [
          ...context.completed,
          params.stepId,
        ],
      }),
      stepFailed: assign({
        failedStep: (_, params: { stepId: string }) => params.stepId,
        error: ({ event }) => errorText((event as { error?: unknown }).error),
      }),
      recordError: assign({
        error: ({ event }) => errorText((event as { error?: unknown }).error),
      }),
      recordPoint: assign({
        pointId: ({ event }) =>
          (event as unknown as { output: { pointId: string } }).output.pointId,
      }),
      recordAbort: assign({ error: ({ event }) => (event as AbortEvent).reason }),
    },
  }).createMachine({
    id: "update",
    // Recovery starts a fresh actor in rollingBack with the dead run's persisted context, so the
    // rollback is invoked anew (a restored snapshot would not restart an in-flight invocation).
    initial: options.resumeRollbackWith ? "rollingBack" : "preflight",
    context: options.resumeRollbackWith ?? {
      pointId: null,
      completed: [],
      failedStep: null,
      error: null,
    },
    states: {
      preflight: {
        invoke: {
          src: "preflight",
          onDone: "rollbackPoint",
          onError: { target: "notStarted", actions: "recordError" },
        },
      },
      rollbackPoint: {
        invoke: {
          src: "takeRollbackPoint",
          onDone: {
            target: ids.length ? `#update.step.${ids[0]}` : "committed",
            actions: "recordPoint",
          },
          onError: { target: "notStarted", actions: "recordError" },
        },
      },
      step: {
        initial: ids[0] ?? "done",
        states: ids.length ? stepStates : { done: {} },
        on: { ABORT: { target: failTarget, actions: "recordAbort" } },
      },
      rollingBack: {
        invoke: {
          src: "rollBack",
          input: ({ context }) => context,
          onDone: "rolledBack",
          onError: "rollbackFailed",
        },
      },
      committed: { type: "final" },
      rolledBack: { type: "final" },
      rollbackFailed: { type: "final" },
      notStarted: { type: "final" },
      failed: { type: "final" },
    },
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The state a snapshot value names, as text: `step.migrate`, `rollingBack`, ... */
export function stateName(value: unknown): string {
  if (typeof value === "string") return value;
  const [key, inner] = Object.entries(value as Record<string, unknown>)[0]!;
  return `${key}.${stateName(inner)}`;
}
