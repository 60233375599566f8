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

/**
 * Return each unit to its recorded enablement and activity, and report every unit: one unit's
 * failure does not stop the others, and the caller sees exactly which did not come back.
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
    try {
      const [before] = await manager.states([want.unit]);
      outcome.before = { activeState: before!.activeState, unitFileState: before!.unitFileState };
      outcome.actions = actionsFor(before!, want);
      for (const action of outcome.actions) await manager.act(action, [want.unit]);
      const [after] = await manager.states([want.unit]);
      outcome.after = { activeState: after!.activeState, unitFileState: after!.unitFileState };
      outcome.ok = matches(after!, want);
      if (!outcome.ok) {
        outcome.error = `${want.unit} is ${after!.activeState}/${after!.unitFileState}, recorded ${want.activeState}/${want.unitFileState}`;
      }
    } catch (error) {
      outcome.error = describeError(error);
    }
    outcomes.push(outcome);
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
