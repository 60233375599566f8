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
    const result = await (await loadExeca())(this.systemctl, ["daemon-reload"], { reject: false });
    if (result.exitCode !== 0) {
      throw new GlobalRollbackError(
        "SERVICE_FAILED",
        `systemctl daemon-reload failed (exit ${result.exitCode}): ${result.stderr.trim()}`,
      );
    }
  }

  async states(units: readonly string[]): Promise<UnitState[]> {
    if (units.length === 0) return [];
    const names = units.map(unitName);
    const result = await (await loadExeca())(
      this.systemctl,
      ["show", "--no-pager", "-p", PROPERTIES.join(","), "--", ...names],
      {
        reject: false,
      },
    );
    if (result.exitCode !== 0) {
      throw new GlobalRollbackError(
        "SERVICE_FAILED",
        `systemctl show ${names.join(" ")} failed (exit ${result.exitCode}): ${result.stderr.trim()}`,
      );
    }
    // One block of KEY=value lines per unit, in the order asked, separated by empty lines.
    const blocks = result.stdout.split(/\n\s*\n/).filter((b) => b.trim() !== "");
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
    const result = await (await loadExeca())(
      this.systemctl,
      [
        action,
        "--no-ask-password",
        ...(this.ignoreOrdering && JOBS.has(action) ? ["--job-mode=ignore-dependencies"] : []),
        "--",
        ...names,
      ],
      {
        reject: false,
      },
    );
    if (result.exitCode !== 0) {
      const said = result.stderr.trim() || result.stdout.trim();
      // systemctl mask only writes a link where no unit file is: say what would make it work.
      const hint =
        action === "mask" && /already exists/.test(said)
          ? ` (a unit file in /etc/systemd/system stands where the mask would go; a rollback point that lists that file in its files restores the mask with it)`
          : "";
      throw new GlobalRollbackError(
        "SERVICE_FAILED",
        `systemctl ${action} ${names.join(" ")} failed (exit ${result.exitCode}): ${said}${hint}`,
        { context: { unit: names.join(" ") } },
      );
    }
  }
}
