import { describe, expect, it } from "vitest";
import { createActor, waitFor } from "xstate";
import {
  compileMachine,
  type EngineActions,
  type RunContext,
  stateName,
} from "../../src/engine/machine.js";
import type { WrittenManifest } from "../../src/manifest/types.js";
import { buildPlan } from "../../src/plan/plan.js";
import { ManualClock } from "../helpers/clock.js";

// The run's machine driven with fake effects: every path, no process, no store.
const manifest: WrittenManifest = {
  apiVersion: "rollpoint/v1",
  name: "m",
  rollbackPoint: {
    files: ["/srv/a", "/srv/b"],
    services: ["web"],
    databases: [{ name: "main", type: "sqlite", database: "/srv/main.db" }],
  },
  steps: [
    { id: "one", run: ["true"], undo: ["undo-one"] },
    { id: "two", run: ["true"] },
    { id: "three", run: ["true"], undo: ["undo-three"] },
    { id: "four", run: ["true"], undo: ["undo-four"] },
  ],
};

interface Fake {
  failStep?: string;
  hangStep?: string;
  failPreflight?: boolean;
  failSettle?: boolean;
  failRestore?: number;
  /** The rollback point completes only when this promise does. */
  pointGate?: Promise<void>;
}

function drive(
  fake: Fake,
  options: Parameters<typeof compileMachine>[2] = {},
  clock?: ManualClock,
) {
  const calls: string[] = [];
  const actions: EngineActions = {
    preflight: async () => {
      calls.push("preflight");
      if (fake.failPreflight) throw new Error("no");
    },
    abandonPoint: () => {},
    takeRollbackPoint: async () => {
      calls.push("point");
      await fake.pointGate;
      return { pointId: "p-1" };
    },
    runStep: (stepId, signal) => {
      calls.push(`step ${stepId}`);
      if (stepId === fake.hangStep)
        return new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error("aborted"))),
        );
      return stepId === fake.failStep
        ? Promise.reject(new Error(`${stepId} failed`))
        : Promise.resolve();
    },
    settle: async () => {
      calls.push("settle");
      if (fake.failSettle) throw new Error("survivors");
    },
    keepEvidence: async () => {
      calls.push("evidence");
      return true;
    },
    undo: async (stepId) => {
      calls.push(`undo ${stepId}`);
      return true;
    },
    verifyPoint: async () => {
      calls.push("verify");
      return true;
    },
    stopServices: async () => {
      calls.push("stop");
      return true;
    },
    restoreMember: async (_p, seq) => {
      calls.push(`restore ${seq}`);
      return seq !== fake.failRestore;
    },
    returnServices: async () => {
      calls.push("return");
      return true;
    },
  };
  const actor = createActor(
    compileMachine(buildPlan(manifest), actions, options),
    clock ? { clock } : {},
  );
  actor.start();
  const done = waitFor(actor, (s) => s.status === "done").then((s) => ({
    outcome: stateName(s.value),
    context: s.context as RunContext,
    calls,
  }));
  return { actor, done };
}

// The point holds /srv/a (seq 0), /srv/b (1), main.db (2), the services (3): the database is
// restored first, then the files last taken first.
const RESTORES = ["verify", "stop", "restore 2", "restore 1", "restore 0", "return"];

describe("the run's machine", () => {
  it("commits when every step succeeds, and restores nothing", async () => {
    const { outcome, calls } = await drive({}).done;
    expect(outcome).toBe("committed");
    expect(calls).toEqual([
      "preflight",
      "point",
      "step one",
      "step two",
      "step three",
      "step four",
    ]);
  });

  it("a failed step: the undos of the steps that completed, last first, then the restores in order", async () => {
    const { outcome, calls, context } = await drive({ failStep: "four" }).done;
    expect(outcome).toBe("rolledBack");
    expect(context).toMatchObject({
      failedStep: "four",
      error: "four failed",
      completed: ["one", "two", "three"],
    });
    expect(calls.slice(6)).toEqual(["settle", "undo three", "undo one", ...RESTORES]);
  });

  it("a step that failed early: only the undos of steps before it", async () => {
    const { calls } = await drive({ failStep: "two" }).done;
    expect(calls.slice(4)).toEqual(["settle", "undo one", ...RESTORES]);
  });

  it("a restore that fails: every other part still runs, and the outcome is rollbackFailed", async () => {
    const { outcome, calls } = await drive({ failStep: "two", failRestore: 1 }).done;
    expect(outcome).toBe("rollbackFailed");
    expect(calls.slice(4)).toEqual(["settle", "undo one", ...RESTORES]);
  });

  it("leftover processes that cannot be killed: nothing is restored, rollbackFailed", async () => {
    const { outcome, calls } = await drive({ failStep: "two", failSettle: true }).done;
    expect(outcome).toBe("rollbackFailed");
    expect(calls.slice(4)).toEqual(["settle"]);
  });

  it("ABORT during a step (a signal, the run's timeout) rolls back; a second ABORT is ignored", async () => {
    const { actor, done } = drive({ hangStep: "three" });
    await waitFor(actor, (s) => stateName(s.value) === "step.three");
    actor.send({ type: "ABORT", reason: "SIGTERM received" });
    actor.send({ type: "ABORT", reason: "again" });
    const { outcome, context, calls } = await done;
    expect(outcome).toBe("rolledBack");
    expect(context.error).toBe("SIGTERM received");
    expect(calls.slice(5)).toEqual(["settle", "undo one", ...RESTORES]);
  });

  it("a failed preflight: notStarted, no rollback point, no rollback", async () => {
    const { outcome, calls } = await drive({ failPreflight: true }).done;
    expect(outcome).toBe("notStarted");
    expect(calls).toEqual(["preflight"]);
  });

  it("--no-rollback: a failure ends in failed, nothing undone", async () => {
    const { outcome, calls } = await drive({ failStep: "two" }, { noRollback: true }).done;
    expect(outcome).toBe("failed");
    expect(calls).toEqual(["preflight", "point", "step one", "step two"]);
  });

  it("resumed inside the rollback: only the parts from where it was", async () => {
    const context: RunContext = {
      pointId: "p-1",
      completed: ["one", "two", "three"],
      failedStep: "four",
      error: "four failed",
    };
    const { outcome, calls } = await drive(
      {},
      { resume: { context, at: "rollingBack.restore.file-2" } },
    ).done;
    expect(outcome).toBe("rolledBack");
    expect(calls).toEqual(["restore 1", "restore 0", "return"]);
  });

  it("resumed outside the rollback (the runner died in a step): the whole rollback", async () => {
    const context: RunContext = {
      pointId: "p-1",
      completed: ["one"],
      failedStep: null,
      error: null,
    };
    const { calls } = await drive({}, { resume: { context } }).done;
    expect(calls).toEqual(["settle", "undo one", ...RESTORES]);
  });
});

describe("an ABORT before the steps (a signal or the run's timeout)", () => {
  it("during preflight: preflight finishes, the update does not start: notStarted", async () => {
    const { actor, done } = drive({});
    actor.send({ type: "ABORT", reason: "SIGINT received" });
    const { outcome, calls, context } = await done;
    expect(outcome).toBe("notStarted");
    expect(context.error).toBe("SIGINT received");
    expect(calls).toEqual(["preflight"]);
  });

  it("during the rollback point: it is taken whole, then restored; no step runs", async () => {
    let release = () => {};
    const pointGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { actor, done } = drive({ pointGate });
    await waitFor(actor, (s) => stateName(s.value) === "rollbackPoint");
    actor.send({ type: "ABORT", reason: "the run's timeout (1s) passed" });
    release();
    const { outcome, calls } = await done;
    expect(outcome).toBe("rolledBack");
    expect(calls).toEqual(["preflight", "point", "settle", ...RESTORES]);
  });

  it("during the rollback: ignored, and the cause stays the step's failure", async () => {
    const { actor, done } = drive({ failStep: "two" });
    await waitFor(actor, (s) => stateName(s.value).startsWith("rollingBack"));
    actor.send({ type: "ABORT", reason: "SIGTERM received" });
    const { outcome, context } = await done;
    expect(outcome).toBe("rolledBack");
    expect(context.error).toBe("two failed");
  });
});

describe("the run's timeout, a named delay of the machine", () => {
  it("passing during a step aborts it and rolls back, naming the timeout", async () => {
    const clock = new ManualClock();
    const { done } = drive({ hangStep: "three" }, { timeout: "2h" }, clock);
    expect(clock.pending).toBe(1);
    const { outcome, context, calls } = await clock.runUntil(done);
    expect(clock.now()).toBe(2 * 3_600_000);
    expect(outcome).toBe("rolledBack");
    expect(context.error).toBe("the run's timeout (2h) passed");
    expect(calls.slice(0, 5)).toEqual(["preflight", "point", "step one", "step two", "step three"]);
  });

  it("a run that ends first is not touched by it: the timer is armed, then cleared", async () => {
    const clock = new ManualClock();
    const { done } = drive({}, { timeout: "1h" }, clock);
    expect(clock.pending).toBe(1);
    const { outcome } = await done;
    expect(outcome).toBe("committed");
    expect(clock.now()).toBe(0);
    expect(clock.pending).toBe(0);
  });
});

describe("the point of no return (irreversible: true)", () => {
  const withIrreversible = (failAt: string) => {
    const calls: string[] = [];
    const m: WrittenManifest = {
      ...manifest,
      steps: [
        { id: "one", run: ["true"], undo: ["undo-one"] },
        { id: "mail", run: ["true"], irreversible: true },
        { id: "three", run: ["true"] },
      ],
    };
    const ok = async () => true;
    const actor = createActor(
      compileMachine(buildPlan(m), {
        preflight: async () => {},
        takeRollbackPoint: async () => ({ pointId: "p-1" }),
        abandonPoint: () => {},
        runStep: async (id) => {
          calls.push(`step ${id}`);
          if (id === failAt) throw new Error(`${id} failed`);
        },
        settle: async () => {
          calls.push("settle");
        },
        keepEvidence: ok,
        undo: async (id) => {
          calls.push(`undo ${id}`);
          return true;
        },
        verifyPoint: ok,
        stopServices: ok,
        restoreMember: ok,
        returnServices: ok,
      }),
    );
    actor.start();
    return waitFor(actor, (s) => s.status === "done").then((s) => ({
      outcome: stateName(s.value),
      calls,
    }));
  };

  it("a failure after it completed is not rolled back: failedForward, nothing undone", async () => {
    const { outcome, calls } = await withIrreversible("three");
    expect(outcome).toBe("failedForward");
    expect(calls).toEqual(["step one", "step mail", "step three"]);
  });

  it("the irreversible step failing itself: rolled back as usual", async () => {
    const { outcome, calls } = await withIrreversible("mail");
    expect(outcome).toBe("rolledBack");
    expect(calls).toEqual(["step one", "step mail", "settle", "undo one"]);
  });
});
