import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../../errors.js";
import type { ServiceAction, ServiceManager, UnitState } from "./manager.js";

/** What returning one unit to its recorded state did. */
export interface UnitOutcome {
  unit: string;
  recorded: Pick<UnitState, "activeState" | "unitFileState">;
  before?: Pick<UnitState, "activeState" | "unitFileState">;
  after?: Pick<UnitState, "activeState" | "unitFileState">;
  actions: ServiceAction[];
  ok: boolean;
  error?: string;
}

// A unit file state that means "leave enablement as it is" (used to only stop units).
const KEEP = "(keep)";
const RUNNING = new Set(["active", "activating", "reloading"]);
const running = (s: string) => RUNNING.has(s);
const masked = (s: string) => s === "masked" || s === "masked-runtime";

/** The actions that take a unit from `now` to `recorded`, unit file state first. */
export function actionsFor(now: UnitState, recorded: UnitState): ServiceAction[] {
  const actions: ServiceAction[] = [];
  const want = recorded.unitFileState;
  if (want === KEEP) {
    // Only the activity is asked for.
  } else if (masked(want)) {
    if (!masked(now.unitFileState)) actions.push("mask");
  } else {
    if (masked(now.unitFileState)) actions.push("unmask");
    if (want.startsWith("enabled") && !now.unitFileState.startsWith("enabled"))
      actions.push("enable");
    if (want === "disabled" && now.unitFileState.startsWith("enabled")) actions.push("disable");
  }
  if (running(recorded.activeState) && !running(now.activeState)) actions.push("start");
  if (!running(recorded.activeState) && running(now.activeState)) actions.push("stop");
  // A masked unit cannot be started; stopping comes before masking so the unit is not orphaned.
  if (actions.includes("mask") && actions.includes("stop")) {
    return ["stop", ...actions.filter((a) => a !== "stop")];
  }
  return actions;
}

/** True when `now` is what `recorded` asked for (failed and inactive both count as stopped). */
export function matches(now: UnitState, recorded: UnitState): boolean {
  return actionsFor(now, recorded).length === 0;
}

// States systemd passes through; a unit in one has not settled yet.
const TRANSITIONAL = new Set(["activating", "deactivating", "reloading", "refreshing"]);
// How long a unit may stay in a transitional state after the settle window: systemd's own
// default start timeout.
const TRANSITION_BOUND_MS = 90_000;

/**
 * Return each unit to its recorded enablement and activity, and report every unit: one unit's
 * failure does not stop the others, and the caller sees exactly which did not come back. Each
 * unit's state is read back after the manager's settle window (a unit started that fails a
 * moment later did not come back), and once none is still starting or stopping.
 */
export async function returnUnitsTo(
  manager: ServiceManager,
  recorded: readonly UnitState[],
): Promise<UnitOutcome[]> {
  const outcomes: UnitOutcome[] = [];
  for (const want of recorded) {
    const outcome: UnitOutcome = {
      unit: want.unit,
      recorded: { activeState: want.activeState, unitFileState: want.unitFileState },
      actions: [],
      ok: false,
    };
    outcomes.push(outcome);
    try {
      const [before] = await manager.states([want.unit]);
      outcome.before = { activeState: before!.activeState, unitFileState: before!.unitFileState };
      outcome.actions = actionsFor(before!, want);
      for (const action of outcome.actions) await manager.act(action, [want.unit]);
    } catch (error) {
      outcome.error = describeError(error);
    }
  }
  const acted = outcomes.filter((o) => o.error === undefined);
  if (acted.some((o) => o.actions.includes("start")) && manager.settleMs) {
    await sleep(manager.settleMs);
  }
  const deadline = Date.now() + TRANSITION_BOUND_MS;
  for (let pending = acted; pending.length > 0; ) {
    const still: UnitOutcome[] = [];
    for (const outcome of pending) {
      try {
        const [after] = await manager.states([outcome.unit]);
        outcome.after = { activeState: after!.activeState, unitFileState: after!.unitFileState };
        if (TRANSITIONAL.has(after!.activeState) && Date.now() < deadline) still.push(outcome);
      } catch (error) {
        outcome.error = describeError(error);
      }
    }
    pending = still;
    if (pending.length > 0) await sleep(250);
  }
  for (const outcome of acted) {
    if (!outcome.after || outcome.error !== undefined) continue;
    const want = recorded.find((r) => r.unit === outcome.unit)!;
    const after = { unit: outcome.unit, ...outcome.after };
    outcome.ok = matches(after, want) && !TRANSITIONAL.has(after.activeState);
    if (!outcome.ok) {
      outcome.error = `${want.unit} is ${after.activeState}/${after.unitFileState}, recorded ${want.activeState}/${want.unitFileState}`;
    }
  }
  return outcomes;
}

/**
 * Stop the units that are running, before data is restored under them, and report each. A unit
 * that is already stopped is left alone (and reported with no action).
 */
export async function stopUnits(
  manager: ServiceManager,
  units: readonly UnitState[],
): Promise<UnitOutcome[]> {
  return returnUnitsTo(
    manager,
    units.map((u) => ({ unit: u.unit, activeState: "inactive", unitFileState: KEEP })),
  );
}
