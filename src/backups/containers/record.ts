// A container as rollpoint records and compares it: the parts of `inspect` that make it what it
// is (image, command, environment, mounts, ports, labels, restart policy, networks, privileges)
// and its state. Read the same way at backup time and in the proof, so that "as it was" means
// these fields read back equal, for Docker and Podman alike.

/** `container inspect` as both engines give it (only what is read here). */
export interface InspectedContainer {
  Id: string;
  Name: string;
  Image: string;
  State: { Running?: boolean; Paused?: boolean; Restarting?: boolean; Status?: string };
  Config: {
    Image: string;
    Cmd?: string[] | string | null;
    Entrypoint?: string[] | string | null;
    Env?: string[] | null;
    Labels?: Record<string, string> | null;
    WorkingDir?: string;
    User?: string;
    Hostname?: string;
  };
  HostConfig: {
    RestartPolicy?: { Name?: string; MaximumRetryCount?: number };
    NetworkMode?: string;
    PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
    Privileged?: boolean;
    CapAdd?: string[] | null;
    CapDrop?: string[] | null;
    ReadonlyRootfs?: boolean;
    ExtraHosts?: string[] | null;
  };
  Mounts?: Array<{
    Type: string;
    Name?: string;
    Source?: string;
    Destination: string;
    RW?: boolean;
  }>;
  NetworkSettings?: { Networks?: Record<string, unknown> | null };
}

export type ContainerState = "running" | "paused" | "stopped";

/** What is compared, field by field: equal shapes are the same container to a user. */
export interface ContainerShape {
  imageId: string;
  imageRef: string;
  cmd: string[];
  entrypoint: string[];
  env: string[];
  labels: Record<string, string>;
  workingDir: string;
  user: string;
  /** Only when set by the author (not the engine's default: the container's short ID). */
  hostname: string;
  restart: string;
  networkMode: string;
  networks: string[];
  ports: string[];
  mounts: string[];
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  readOnly: boolean;
  extraHosts: string[];
}

export interface ContainerRecord {
  name: string;
  id: string;
  /** The compose service it belongs to, if any. */
  service?: string;
  shape: ContainerShape;
  state: ContainerState;
  /** The named volumes it mounts. */
  volumes: string[];
}

const list = (v: string[] | string | null | undefined): string[] =>
  Array.isArray(v) ? [...v] : typeof v === "string" && v !== "" ? [v] : [];

/** A volume the engine named itself (an anonymous volume): 64 hex digits. */
export const isAnonymousVolume = (name: string): boolean => /^[0-9a-f]{64}$/.test(name);

export function recordOf(c: InspectedContainer): ContainerRecord {
  const mounts = c.Mounts ?? [];
  const hostname = c.Config.Hostname ?? "";
  const defaultHostname = hostname === c.Id.slice(0, 12) || c.HostConfig.NetworkMode === "host";
  const service = c.Config.Labels?.["com.docker.compose.service"];
  return {
    name: c.Name.replace(/^\//, ""),
    id: c.Id,
    ...(service ? { service } : {}),
    shape: {
      imageId: c.Image.startsWith("sha256:") ? c.Image : `sha256:${c.Image}`,
      imageRef: c.Config.Image,
      cmd: list(c.Config.Cmd),
      entrypoint: list(c.Config.Entrypoint),
      // The engine sets HOSTNAME itself (Podman, from the container's ID): not the author's.
      env: list(c.Config.Env)
        .filter((e) => !e.startsWith("HOSTNAME="))
        .sort(),
      labels: sortedObject(c.Config.Labels ?? {}),
      workingDir: c.Config.WorkingDir ?? "",
      user: c.Config.User ?? "",
      hostname: defaultHostname ? "" : hostname,
      restart: restartOf(c.HostConfig.RestartPolicy),
      networkMode: c.HostConfig.NetworkMode ?? "",
      networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort(),
      ports: Object.entries(c.HostConfig.PortBindings ?? {})
        .flatMap(([port, bindings]) =>
          (bindings ?? []).map((b) => `${b.HostIp ?? ""}:${b.HostPort ?? ""}->${port}`),
        )
        .sort(),
      mounts: mounts.map(mountOf).sort(),
      privileged: c.HostConfig.Privileged ?? false,
      capAdd: [...(c.HostConfig.CapAdd ?? [])].sort(),
      capDrop: [...(c.HostConfig.CapDrop ?? [])].sort(),
      readOnly: c.HostConfig.ReadonlyRootfs ?? false,
      extraHosts: [...(c.HostConfig.ExtraHosts ?? [])].sort(),
    },
    state: stateOf(c.State),
    volumes: [
      ...new Set(
        mounts.flatMap((m) =>
          m.Type === "volume" && m.Name && !isAnonymousVolume(m.Name) ? [m.Name] : [],
        ),
      ),
    ],
  };
}

function mountOf(m: NonNullable<InspectedContainer["Mounts"]>[number]): string {
  const mode = m.RW === false ? "ro" : "rw";
  if (m.Type === "volume") {
    const name = m.Name && !isAnonymousVolume(m.Name) ? m.Name : "(anonymous)";
    return `volume ${name} ${m.Destination} ${mode}`;
  }
  if (m.Type === "bind") return `bind ${m.Source ?? ""} ${m.Destination} ${mode}`;
  return `${m.Type} ${m.Destination} ${mode}`;
}

function restartOf(policy: InspectedContainer["HostConfig"]["RestartPolicy"]): string {
  const name = policy?.Name || "no";
  return name === "on-failure" && policy?.MaximumRetryCount
    ? `on-failure:${policy.MaximumRetryCount}`
    : name;
}

export function stateOf(state: InspectedContainer["State"]): ContainerState {
  if (state.Paused) return "paused";
  if (state.Running || state.Restarting) return "running";
  return "stopped";
}

function sortedObject(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** How `now` differs from `recorded`, one phrase per field (empty when they are the same). */
export function shapeDifferences(recorded: ContainerShape, now: ContainerShape): string[] {
  const out: string[] = [];
  for (const key of Object.keys(recorded) as Array<keyof ContainerShape>) {
    const a = JSON.stringify(recorded[key]);
    const b = JSON.stringify(now[key]);
    if (a === b) continue;
    if (key === "labels") {
      // Name the labels that differ, not the whole map.
      const was = recorded.labels;
      const is = now.labels;
      for (const k of new Set([...Object.keys(was), ...Object.keys(is)]))
        if (was[k] !== is[k])
          out.push(
            `label ${k} is ${clip(JSON.stringify(is[k] ?? null))}, recorded ${clip(JSON.stringify(was[k] ?? null))}`,
          );
    } else if (key === "env") {
      const missing = recorded.env.filter((e) => !now.env.includes(e));
      const added = now.env.filter((e) => !recorded.env.includes(e));
      out.push(`env has ${clip(JSON.stringify(added))}, recorded ${clip(JSON.stringify(missing))}`);
    } else out.push(`${key} is ${clip(b)}, recorded ${clip(a)}`);
  }
  return out;
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
