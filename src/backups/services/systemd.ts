import { GlobalRollbackError } from "../../errors.js";
import { loadExeca } from "../../util/lazy.js";
import { type ServiceAction, type ServiceManager, type UnitState, unitName } from "./manager.js";

const PROPERTIES = ["Id", "LoadState", "ActiveState", "UnitFileState"];
// The actions that queue a job (the others only change unit files).
const JOBS = new Set<ServiceAction>(["start", "stop", "restart", "reload"]);

/**
 * {@link ServiceManager} through `systemctl` (found on PATH; never through a shell). Unit names
 * always follow `--`, so that a name can never be read as an option (`-Hhost` is a remote host).
 */
export class SystemdServiceManager implements ServiceManager {
  /** One second by default: see {@link ServiceManager.settleMs}. */
  readonly settleMs: number;
  private readonly ignoreOrdering: boolean;

  /**
   * @param options.ignoreOrdering - start and stop units now, whatever they are ordered after
   *   (`--job-mode=ignore-dependencies`). For `rollpoint recover --boot`, run by a unit that the
   *   protected services are ordered after: without it, starting them would wait for the very
   *   unit that is starting them.
   */
  constructor(
    private readonly systemctl = "systemctl",
    options: { settleMs?: number; ignoreOrdering?: boolean } = {},
  ) {
    this.settleMs = options.settleMs ?? 1000;
    this.ignoreOrdering = options.ignoreOrdering ?? false;
  }

  async reload(): Promise<void> {
    await this.run(["daemon-reload"], "daemon-reload");
  }

  async states(units: readonly string[]): Promise<UnitState[]> {
    if (units.length === 0) return [];
    const names = units.map(unitName);
    const stdout = await this.run(
      ["show", "--no-pager", "-p", PROPERTIES.join(","), "--", ...names],
      `show ${names.join(" ")}`,
    );
    // One block of KEY=value lines per unit, in the order asked, separated by empty lines.
    const blocks = stdout.split(/\n\s*\n/).filter((b) => b.trim() !== "");
    return names.map((unit, i) => {
      const props = new Map(
        (blocks[i] ?? "").split("\n").map((line) => {
          const eq = line.indexOf("=");
          return [line.slice(0, eq), line.slice(eq + 1)] as const;
        }),
      );
      if (props.get("LoadState") === "not-found" || !props.has("ActiveState")) {
        throw new GlobalRollbackError("SERVICE_NOT_FOUND", `unit ${unit} does not exist`, {
          context: { unit },
        });
      }
      return {
        unit,
        activeState: props.get("ActiveState") ?? "",
        unitFileState: props.get("UnitFileState") ?? "",
      };
    });
  }

  async act(action: ServiceAction, units: readonly string[]): Promise<void> {
    if (units.length === 0) return;
    const names = units.map(unitName);
    await this.run(
      [
        action,
        "--no-ask-password",
        ...(this.ignoreOrdering && JOBS.has(action) ? ["--job-mode=ignore-dependencies"] : []),
        "--",
        ...names,
      ],
      `${action} ${names.join(" ")}`,
      { unit: names.join(" ") },
      // systemctl mask only writes a link where no unit file is: say what would make it work.
      action === "mask"
        ? (said) =>
            /already exists/.test(said)
              ? " (a unit file in /etc/systemd/system stands where the mask would go; a rollback point that lists that file in its files restores the mask with it)"
              : ""
        : undefined,
    );
  }

  /** `systemctl ARGS`; its stdout, or SERVICE_FAILED naming what was asked and what it said. */
  private async run(
    args: string[],
    what: string,
    context?: { unit: string },
    hint?: (said: string) => string,
  ): Promise<string> {
    const result = await (await loadExeca())(this.systemctl, args, { reject: false });
    if (result.exitCode === 0) return result.stdout;
    const said = result.stderr.trim() || result.stdout.trim();
    throw new GlobalRollbackError(
      "SERVICE_FAILED",
      `systemctl ${what} failed (exit ${result.exitCode}): ${said}${hint?.(said) ?? ""}`,
      context ? { context } : {},
    );
  }
}
