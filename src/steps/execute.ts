import { describeError } from "../errors.js";
import { stepKindOf, type WrittenStep } from "../manifest/types.js";
import { sleepOn, systemClock } from "../util/clock.js";
import { STEP_KIND_MODULES } from "./kinds/index.js";
import { type StepContext, StepFailure } from "./step-kind.js";

export {
  type StepContext,
  StepFailure,
  type StepFailureCode,
} from "./step-kind.js";

/** Run one step, with its timeout and retries (backoff 0.5 s, 1 s, 2 s...). Throws StepFailure. */
export async function executeStep(
  step: WrittenStep,
  ctx: StepContext,
): Promise<{ attempts: number }> {
  const attempts = (step.retries ?? 0) + 1;
  for (let attempt = 1; ; attempt++) {
    try {
      await once(step, ctx);
      return { attempts: attempt };
    } catch (error) {
      if (
        ctx.signal.aborted ||
        attempt >= attempts ||
        (error instanceof StepFailure && error.timedOut)
      )
        throw error;
      ctx.onLines(
        [`attempt ${attempt} of ${attempts} failed: ${describeError(error)}; retrying`],
        "stderr",
      );
      await sleepOn(ctx.clock ?? systemClock, 500 * 2 ** (attempt - 1), ctx.signal);
    }
  }
}

async function once(step: WrittenStep, ctx: StepContext): Promise<void> {
  const kind = stepKindOf(step);
  if (!kind)
    throw new StepFailure(
      `step ${step.id} has no kind rollpoint knows; it was not run`,
      "UNKNOWN_KIND",
    );
  await STEP_KIND_MODULES[kind].execute(step, ctx);
}
