// The registry of step kinds: one module each, one line here. The mapped type makes a kind
// named in STEP_KINDS (the manifest's) without its module a compile error; plan's summaries and
// the run's execution look kinds up here and nowhere else.

import type { StepKind } from "../../manifest/types.js";
import type { StepKindModule } from "../step-kind.js";
import { aptStep } from "./apt.js";
import { checkStep } from "./check.js";
import { runStep, shellStep } from "./command.js";
import { serviceStep } from "./service.js";
import { sqlStep } from "./sql.js";

export const STEP_KIND_MODULES: { readonly [K in StepKind]: StepKindModule } = {
  run: runStep,
  shell: shellStep,
  service: serviceStep,
  sql: sqlStep,
  check: checkStep,
  apt: aptStep,
};
