// `sql`: a file of statements run in one transaction by the database's own kind.

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { DatabaseConfig } from "../../backups/databases/config.js";
import { databaseKind } from "../../backups/databases/kind.js";
import { describeError } from "../../errors.js";
import { type StepContext, StepFailure, type StepKindModule } from "../step-kind.js";

export const sqlStep: StepKindModule = {
  summary: (step) => `SQL ${step.sql!.file} on ${step.sql!.database}, in one transaction`,
  execute: (step, ctx) => runSql(step.sql!, step.id, ctx),
};

async function runSql(
  sql: { database: string; file: string },
  stepId: string,
  ctx: StepContext,
): Promise<void> {
  const text = readFileSync(resolve(dirname(ctx.manifestFile), sql.file), "utf8");
  const db = ctx.databases.find((d) => d.name === sql.database)!;
  try {
    await databaseKind(db.type).runSql(db as DatabaseConfig, text, {
      signal: ctx.signal,
      hold: (work) => ctx.containment.hold(work),
      jail: () => ctx.containment.enter(`${stepId} (sql client)`),
    });
  } catch (error) {
    throw new StepFailure(
      `SQL ${sql.file} failed and was rolled back: ${describeError(error)}`,
      ctx.signal.aborted ? "INTERRUPTED" : "SQL",
    );
  }
}
