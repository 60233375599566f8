import { writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { GlobalRollbackError } from "../../errors.js";
import { emit, resolveGlobalOptions } from "../context.js";
import { ExitCode } from "../exit-codes.js";

/** `rollpoint init [file]`: a starter manifest that validates, to edit. */
export function registerInit(
  program: Command,
  run: (fn: () => Promise<ExitCode>) => Promise<void>,
): void {
  program
    .command("init")
    .argument("[file]", "the manifest to write", "update.yaml")
    .option("--name <module>", "the module name (default: this directory's name)")
    .description("write a starter manifest to edit (never over an existing file)")
    .action((file: string, opts: { name?: string }, command: Command) =>
      run(async () => {
        const o = resolveGlobalOptions(command.optsWithGlobals());
        const path = resolve(file);
        const name = moduleName(opts.name ?? basename(process.cwd()));
        try {
          writeFileSync(path, starter(name), { flag: "wx" });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
          throw new GlobalRollbackError(
            "INVALID_ARGUMENT",
            `${path} exists; nothing was written (name another file)`,
            { context: { path } },
          );
        }
        emit(o, { written: path, name }, () =>
          [
            `wrote ${path} (module ${name})`,
            "next: edit it, then",
            `  rollpoint validate ${file}   # in CI too: touches nothing`,
            `  rollpoint plan ${file}       # on the host: what would happen, changes nothing`,
            `  rollpoint run ${file}`,
          ].join("\n"),
        );
        return ExitCode.ok;
      }),
    );
}

/** The installed package's schema: editors validate and complete the manifest with it. */
export function installedSchema(): string {
  return fileURLToPath(new URL("../../../schemas/manifest.schema.json", import.meta.url));
}

// The module name's pattern (manifest schema): letters, digits, ._- and a letter or digit first.
function moduleName(text: string): string {
  const name = text.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return name.slice(0, 64) || "app";
}

function starter(name: string): string {
  return `# yaml-language-server: $schema=${installedSchema()}
# A rollpoint update manifest. Every key, with examples: docs/manifest.md in the rollpoint package.
# rollpoint takes the rollback point, runs the steps in order, and on any failure (a step, a
# check, a timeout, Ctrl-C) restores everything in the rollback point and runs the undos.
apiVersion: rollpoint/v1
name: ${name}
version: "1.0.0"
description: What this update does, for people reading the history
vars: { root: /opt/${name} }   # used as \${vars.root}; --var root=... overrides

rollbackPoint:
  files:
    - \${vars.root}/config                 # a file or directory; one that does not exist yet is
                                          # recorded as absent, and a rollback removes it
  # services: [${name}]                   # systemd units: enabled/disabled, active/inactive
  # databases:
  #   - { name: main, type: postgresql, host: localhost, user: ${name}, database: ${name}, passwordEnv: PGPASSWORD }

steps:
  - id: configure
    shell: |
      mkdir -p \${vars.root}/config
      echo "setting=2" > \${vars.root}/config/app.conf
  # - id: restart
  #   service: { restart: [${name}] }
  - id: health
    check: { command: [test, -s, "\${vars.root}/config/app.conf"], within: 10s }
`;
}
