import { assign, fromPromise, raise, setup } from "xstate";
import type { Plan } from "../plan/plan.js";
import { parseDuration } from "../util/duration.js";

/** What the machine remembers; persisted with every transition, so recovery knows what ran. */
export interface RunContext {
  pointId: string | null;
  /** Steps that completed, in order: their undos run last-first on rollback. */
  completed: string[];
  failedStep: string | null;
  error: string | null;
  /** False once any part of the rollback failed (absent in snapshots of older versions). */
  rollbackOk?: boolean;
  /** The irreversible step that completed: from then on a failure is not rolled back. */
  noReturn?: string;
  /** Set by an ABORT before the steps (a signal or the run's timeout during preflight or the
   * rollback point): the update does not start. */
  abortRequested?: boolean;
}

/** The effects, injected: the machine itself is pure and serializable. */
export interface EngineActions {
  preflight(): Promise<void>;
  takeRollbackPoint(): Promise<{ pointId: string }>;
  /** Stop the point being taken (an ABORT meanwhile): its take fails and removes what it took. */
  abandonPoint(reason: string): void;
  runStep(stepId: string, signal: AbortSignal): Promise<void>;
  /** Kill what the steps left running; throws when something survives (nothing is restored). */
  settle(): Promise<void>;
  /** keepFailedState: back up the members as the failure left them (never blocks the rollback). */
  keepEvidence(): Promise<boolean>;
  /** Each returns whether that part of the rollback succeeded. */
  undo(stepId: string): Promise<boolean>;
  verifyPoint(pointId: string): Promise<boolean>;
  stopServices(pointId: string): Promise<boolean>;
  restoreMember(pointId: string, seq: number): Promise<boolean>;
  returnServices(pointId: string): Promise<boolean>;
}

export type AbortEvent = { type: "ABORT"; reason: string };

type RollbackInput = { context: RunContext };

/**
 * Compile a plan into the run's state machine: `preflight → rollbackPoint → step.<id>… →
 * committed`, and on a failed step, a timeout or a signal (ABORT): `rollingBack`, whose states
 * are the rollback itself, in the documented order (docs/rollback-semantics.md): `settle` (the steps' leftovers killed),
 * `undo.<step>` for each step with an undo, last first (skipped unless the step completed),
 * `verify` (every member's objects, before anything is touched), `stopServices`,
 * `restore.<member>` for each file and database, last taken first, `returnServices`; then
 * `rolledBack`, or `rollbackFailed` when any part failed. A step with continueOnError goes on to
 * the next one when it fails. `resume` starts the machine inside the rollback, at the state a
 * dead runner was in (recover): each of those states is idempotent.
 */
export function compileMachine(
  plan: Plan,
  actions: EngineActions,
  options: {
    noRollback?: boolean;
    resume?: { context: RunContext; at?: string };
    /** The run's `timeout` (a duration): when it passes, the machine aborts itself. */
    timeout?: string;
  } = {},
) {
  const timeoutMs = options.timeout ? parseDuration(options.timeout) : undefined;
  const ids = plan.steps.map((s) => s.id);
  const failTarget = options.noRollback ? "#update.failed" : "#update.rollingBack";
  // Only steps after an irreversible one can end failedForward: the others need no such edge.
  const firstIrreversible = plan.steps.findIndex((s) => s.irreversible);
  const failedForwardAt = (i: number) => firstIrreversible >= 0 && i > firstIrreversible;
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
              actions: {
                type: "stepDone" as const,
                params: { stepId: step.id, irreversible: step.irreversible },
              },
            },
            onError: step.continueOnError
              ? { target: next }
              : [
                  ...(failedForwardAt(i)
                    ? [
                        {
                          target: "#update.failedForward",
                          guard: "pastNoReturn" as const,
                          actions: { type: "stepFailed" as const, params: { stepId: step.id } },
                        },
                      ]
                    : []),
                  {
                    target: failTarget,
                    actions: { type: "stepFailed" as const, params: { stepId: step.id } },
                  },
                ],
          },
        },
      ];
    }),
  );
  const rollback = rollbackStates(plan);
  const resumeAt = options.resume?.at?.split(".") ?? [];
  return setup({
    types: {
      context: {} as RunContext,
      events: {} as AbortEvent,
    },
    delays: { runTimeout: timeoutMs ?? 0 },
    actors: {
      preflight: fromPromise(() => actions.preflight()),
      takeRollbackPoint: fromPromise(() => actions.takeRollbackPoint()),
      runStep: fromPromise(
        ({ input, signal }: { input: { stepId: string }; signal: AbortSignal }) =>
          actions.runStep(input.stepId, signal),
      ),
      settle: fromPromise(() => actions.settle()),
      keepEvidence: fromPromise(() => actions.keepEvidence()),
      undo: fromPromise(({ input }: { input: { stepId: string } }) => actions.undo(input.stepId)),
      verifyPoint: fromPromise(({ input }: { input: RollbackInput }) =>
        input.context.pointId ? actions.verifyPoint(input.context.pointId) : Promise.resolve(true),
      ),
      stopServices: fromPromise(({ input }: { input: RollbackInput }) =>
        input.context.pointId ? actions.stopServices(input.context.pointId) : Promise.resolve(true),
      ),
      restoreMember: fromPromise(({ input }: { input: RollbackInput & { seq: number } }) =>
        input.context.pointId
          ? actions.restoreMember(input.context.pointId, input.seq)
          : Promise.resolve(true),
      ),
      returnServices: fromPromise(({ input }: { input: RollbackInput }) =>
        input.context.pointId
          ? actions.returnServices(input.context.pointId)
          : Promise.resolve(true),
      ),
    },
    guards: {
      notCompleted: ({ context }, params: { stepId: string }) =>
        !context.completed.includes(params.stepId),
      rollbackOk: ({ context }) => context.rollbackOk !== false,
      abortRequested: ({ context }) => context.abortRequested === true,
      pastNoReturn: ({ context }) => context.noReturn !== undefined,
    },
    actions: {
      stepDone: assign(({ context }, params: { stepId: string; irreversible: boolean }) => ({
        completed: [...context.completed, params.stepId],
        ...(params.irreversible && context.noReturn === undefined
          ? { noReturn: params.stepId }
          : {}),
      })),
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
      abandonPoint: ({ event }) => actions.abandonPoint((event as AbortEvent).reason),
      requestAbort: assign({
        abortRequested: () => true,
        error: ({ event }) => (event as AbortEvent).reason,
      }),
      // A part of the rollback reports whether it succeeded; the rollback goes on either way.
      recordPart: assign({
        rollbackOk: ({ context, event }) =>
          context.rollbackOk !== false && (event as unknown as { output: boolean }).output,
      }),
      failPart: assign({ rollbackOk: () => false }),
    },
  }).createMachine({
    id: "update",
    // Recovery starts a fresh actor inside `rollingBack` with the dead run's persisted context,
    // so the state it was in is entered anew and its invocation runs again.
    initial: options.resume ? "rollingBack" : "preflight",
    // The run's timeout is a named delay from the machine's start; what its ABORT does depends
    // on where the run is (see each state's ABORT). A resumed rollback has no timeout.
    ...(timeoutMs && !options.resume
      ? {
          after: {
            runTimeout: {
              actions: raise({
                type: "ABORT",
                reason: `the run's timeout (${options.timeout}) passed`,
              } as AbortEvent),
            },
          },
        }
      : {}),
    context: options.resume?.context ?? {
      pointId: null,
      completed: [],
      failedStep: null,
      error: null,
    },
    // An ABORT before the steps is remembered and the update does not start. Preflight runs to
    // its end (it only reads) and the run ends notStarted. The rollback point is abandoned: its
    // take stops at its next checkpoint (a walk's window, a member) and removes what it took,
    // and the run ends notStarted; a point that completed first is restored (nothing was changed
    // yet, so that is quick) and the run ends rolledBack.
    states: {
      preflight: {
        on: { ABORT: { actions: "requestAbort" } },
        invoke: {
          src: "preflight",
          onDone: [{ target: "notStarted", guard: "abortRequested" }, { target: "rollbackPoint" }],
          onError: { target: "notStarted", actions: "recordError" },
        },
      },
      rollbackPoint: {
        on: { ABORT: { actions: ["requestAbort", "abandonPoint"] } },
        invoke: {
          src: "takeRollbackPoint",
          onDone: [
            { target: "rollingBack", guard: "abortRequested", actions: "recordPoint" },
            { target: ids.length ? `#update.step.${ids[0]}` : "committed", actions: "recordPoint" },
          ],
          onError: { target: "notStarted", actions: "recordError" },
        },
      },
      step: {
        initial: ids[0] ?? "done",
        states: ids.length ? stepStates : { done: {} },
        on: {
          ABORT: [
            ...(firstIrreversible >= 0
              ? [
                  {
                    target: "#update.failedForward",
                    guard: "pastNoReturn" as const,
                    actions: "recordAbort" as const,
                  },
                ]
              : []),
            { target: failTarget, actions: "recordAbort" as const },
          ],
        },
      },
      rollingBack: withInitial(rollback, resumeAt.slice(1)),
      committed: { type: "final" },
      rolledBack: { type: "final" },
      rollbackFailed: { type: "final" },
      notStarted: { type: "final" },
      failed: { type: "final" },
      // A failure after an irreversible step completed: nothing rolled back, the point kept.
      failedForward: { type: "final" },
    },
  });
}

interface StateConfig {
  initial?: string;
  states?: Record<string, StateConfig>;
  [key: string]: unknown;
}

/**
 * The rollback's states, in order, each going on to the next whatever its outcome (a failed
 * part is recorded in `rollbackOk`); only `settle` failing ends it at once: nothing may be
 * restored while the update's processes can still write.
 */
function rollbackStates(plan: Plan): StateConfig {
  const undoSteps = plan.steps.filter((s) => s.undo).reverse();
  const order: string[] = [
    "settle",
    ...(plan.keepFailedState ? ["evidence"] : []),
    ...undoSteps.map((s) => `undo.${s.id}`),
    "verify",
    "stopServices",
    ...plan.restoreOrder.map((m) => `restore.${m.key}`),
    "returnServices",
    "done",
  ];
  const next = (path: string) => `#update.rollingBack.${order[order.indexOf(path) + 1]}`;
  // A part that fails is recorded and the rollback goes on, unless `onFailure` names where to.
  const part = (
    src: string,
    path: string,
    input?: (x: RollbackInput) => unknown,
    onFailure = next(path),
  ) => ({
    invoke: {
      src,
      input: input ?? (({ context }: RollbackInput) => ({ context })),
      onDone: { target: next(path), actions: "recordPart" },
      onError: { target: onFailure, actions: "failPart" },
    },
  });
  return {
    initial: "settle",
    states: {
      settle: {
        invoke: {
          src: "settle",
          onDone: next("settle"),
          onError: { target: "#update.rollbackFailed", actions: "failPart" },
        },
      },
      ...(plan.keepFailedState
        ? {
            // Evidence of the failure, taken before anything is undone; its own failure is
            // logged and the rollback goes on (done either way).
            evidence: {
              invoke: {
                src: "keepEvidence",
                onDone: next("evidence"),
                onError: next("evidence"),
              },
            },
          }
        : {}),
      ...(undoSteps.length
        ? {
            undo: {
              initial: undoSteps[0]!.id,
              states: Object.fromEntries(
                undoSteps.map((s) => [
                  s.id,
                  {
                    // Only the undos of steps that completed run; the others are passed through.
                    always: {
                      target: next(`undo.${s.id}`),
                      guard: { type: "notCompleted", params: { stepId: s.id } },
                    },
                    ...part("undo", `undo.${s.id}`, () => ({ stepId: s.id })),
                  },
                ]),
              ),
            },
          }
        : {}),
      // A point that cannot be restored whole (a database this process cannot reach) stops the
      // rollback here, before anything is restored: never files back and a database not.
      verify: part("verifyPoint", "verify", undefined, "#update.rollbackFailed"),
      stopServices: part("stopServices", "stopServices"),
      ...(plan.restoreOrder.length
        ? {
            restore: {
              initial: plan.restoreOrder[0]!.key,
              states: Object.fromEntries(
                plan.restoreOrder.map((m) => [
                  m.key,
                  part("restoreMember", `restore.${m.key}`, ({ context }) => ({
                    context,
                    seq: m.seq,
                  })),
                ]),
              ),
            },
          }
        : {}),
      returnServices: part("returnServices", "returnServices"),
      done: {
        always: [
          { target: "#update.rolledBack", guard: "rollbackOk" },
          { target: "#update.rollbackFailed" },
        ],
      },
    },
  };
}

/** The same states, entered at `path` (e.g. ["restore", "db-main"]) instead of their start. */
function withInitial(config: StateConfig, path: string[]): StateConfig {
  const [head, ...rest] = path;
  if (!head || !config.states?.[head]) return config;
  return {
    ...config,
    initial: head,
    states: { ...config.states, [head]: withInitial(config.states[head]!, rest) },
  };
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
