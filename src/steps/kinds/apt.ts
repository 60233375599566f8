// `apt`: apt-get install / install --only-upgrade / remove, noninteractive, keeping the old
// conffiles (the admin's edits stay; a rollback restores conffiles itself). One contained
// process tree per request part, like any step's; a failure of apt or dpkg fails the step.

import { aptArgs, NONINTERACTIVE } from "../../backups/packages/dpkg.js";
import type { StepKindModule } from "../step-kind.js";
import { runArgv } from "./command.js";

export const aptStep: StepKindModule = {
  summary: (step) =>
    aptArgs(step.apt!)
      .map((args) => `apt-get ${args.join(" ")}`)
      .join("; "),
  async execute(step, ctx) {
    for (const args of aptArgs(step.apt!)) {
      await runArgv(
        [
          "apt-get",
          "-y",
          ...NONINTERACTIVE.dpkgOptions.flatMap((o) => ["-o", `Dpkg::Options::=${o}`]),
          ...args,
        ],
        {
          ...step,
          env: {
            DEBIAN_FRONTEND: "noninteractive",
            DEBCONF_NONINTERACTIVE_SEEN: "true",
            ...step.env,
          },
        },
        ctx,
      );
    }
  },
};
