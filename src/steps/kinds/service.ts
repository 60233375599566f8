// `service`: one systemctl verb on units, through the service manager.

import type { ServiceVerb } from "../../manifest/types.js";
import type { StepKindModule } from "../step-kind.js";

export const serviceStep: StepKindModule = {
  summary(step) {
    const [verb, units] = Object.entries(step.service!)[0]!;
    return `systemctl ${verb} ${units!.join(" ")}`;
  },
  async execute(step, ctx) {
    const [verb, units] = Object.entries(step.service!)[0]!;
    await ctx.services.act(verb as ServiceVerb, units!);
  },
};
