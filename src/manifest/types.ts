// The manifest as written (before interpolation), mirroring schemas/manifest.schema.json. The
// key lists below are checked against the schema by test/manifest/schema-types.test.ts, so the
// schema and these types cannot drift apart unnoticed.

export type Duration = string;

export interface WrittenFileTarget {
  path: string;
  exclude?: string[];
}

export interface WrittenDatabase {
  name: string;
  type: "postgresql" | "sqlite" | "mariadb" | "mysql";
  database: string;
  host?: string;
  socket?: string;
  port?: number | string;
  user?: string;
  passwordEnv?: string;
  password?: string;
  strategy?: "dump" | "clone";
}

/** A container member: a compose project (`compose`) or single containers (`containers`). */
export interface WrittenContainer {
  name: string;
  engine?: "docker" | "podman";
  compose?: string;
  project?: string;
  containers?: string[];
  consistent?: "stop" | "pause" | "live";
  saveImages?: boolean;
}

export interface WrittenRollbackPoint {
  files?: Array<string | WrittenFileTarget>;
  services?: string[];
  databases?: WrittenDatabase[];
  containers?: WrittenContainer[];
  /** Debian packages by name (`{ name }` is the same). */
  packages?: Array<string | { name: string }>;
}

/** An `apt` step: apt-get install / install --only-upgrade / remove, noninteractive. */
export interface WrittenApt {
  install?: string[];
  upgrade?: string[];
  remove?: string[];
}

export type ServiceVerb = "start" | "stop" | "restart" | "reload" | "enable" | "disable";

export interface WrittenCheck {
  http?: string;
  status?: number;
  tcp?: string;
  command?: string[];
  service?: string;
  within?: Duration;
  interval?: Duration;
  /** How long one probe may run (default 10s), independent of `interval`. */
  probeTimeout?: Duration;
  /** Probe once, without retrying. */
  once?: boolean;
  /** After the first pass, keep passing this long (probed every interval). */
  holdFor?: Duration;
}

export interface WrittenStep {
  id: string;
  description?: string;
  run?: string[];
  shell?: string;
  service?: Partial<Record<ServiceVerb, string[]>>;
  sql?: { database: string; file: string };
  check?: WrittenCheck;
  apt?: WrittenApt;
  cwd?: string;
  env?: Record<string, string>;
  timeout?: Duration;
  retries?: number;
  undo?: string[];
  continueOnError?: boolean;
  /** Once completed, a later failure is not rolled back: the run ends failedForward. */
  irreversible?: boolean;
  /** In `finally` steps: the outcomes after which it runs (default: all). */
  when?: Array<"committed" | "rolledBack" | "rollbackFailed" | "failedForward">;
}

/** The outcomes a notification can be filtered on: a run's, and its watch's. */
export const NOTIFY_OUTCOMES = [
  "committed",
  "rolledBack",
  "rollbackFailed",
  "failedForward",
  "notStarted",
  "failed",
  "watchRolledBack",
] as const;
export type NotifyOutcome = (typeof NOTIFY_OUTCOMES)[number];

/** One place an outcome is sent: exactly one of `url` and `command`. */
export interface WrittenNotification {
  url?: string;
  command?: string[];
  on?: NotifyOutcome[];
  timeout?: Duration;
}

/** After the commit: checks probed every `interval` for `for`; a failure rolls the run back. */
export interface WrittenWatch {
  for: Duration;
  interval?: Duration;
  checks: WrittenCheck[];
}

export interface WrittenManifest {
  apiVersion: "rollpoint/v1";
  name: string;
  version?: string;
  description?: string;
  vars?: Record<string, string | number | boolean>;
  timeout?: Duration;
  rollbackPoint?: WrittenRollbackPoint;
  /** Before a rollback, back up the members as the failure left them. */
  keepFailedState?: boolean;
  steps: WrittenStep[];
  /** Run once after the outcome, each filtered by its `when`; never changes the outcome. */
  finally?: WrittenStep[];
  /** Where each outcome is sent; a failure to send never changes it. */
  notify?: WrittenNotification[];
  /** After the commit, the run's checks go on without it; a failure rolls it back. */
  watch?: WrittenWatch;
}

/** Every key each object may have; `satisfies` ties each list to its type. */
export const KEYS = {
  manifest: [
    "apiVersion",
    "name",
    "version",
    "description",
    "vars",
    "timeout",
    "rollbackPoint",
    "keepFailedState",
    "steps",
    "finally",
    "notify",
    "watch",
  ] as const satisfies ReadonlyArray<keyof WrittenManifest>,
  watch: ["for", "interval", "checks"] as const satisfies ReadonlyArray<keyof WrittenWatch>,
  notification: ["url", "command", "on", "timeout"] as const satisfies ReadonlyArray<
    keyof WrittenNotification
  >,
  rollbackPoint: [
    "files",
    "services",
    "databases",
    "containers",
    "packages",
  ] as const satisfies ReadonlyArray<keyof WrittenRollbackPoint>,
  container: [
    "name",
    "engine",
    "compose",
    "project",
    "containers",
    "consistent",
    "saveImages",
  ] as const satisfies ReadonlyArray<keyof WrittenContainer>,
  database: [
    "name",
    "type",
    "database",
    "host",
    "port",
    "socket",
    "user",
    "passwordEnv",
    "password",
    "strategy",
  ] as const satisfies ReadonlyArray<keyof WrittenDatabase>,
  step: [
    "id",
    "description",
    "run",
    "shell",
    "service",
    "sql",
    "check",
    "apt",
    "cwd",
    "env",
    "timeout",
    "retries",
    "undo",
    "continueOnError",
    "irreversible",
    "when",
  ] as const satisfies ReadonlyArray<keyof WrittenStep>,
  check: [
    "http",
    "status",
    "tcp",
    "command",
    "service",
    "within",
    "interval",
    "probeTimeout",
    "once",
    "holdFor",
  ] as const satisfies ReadonlyArray<keyof WrittenCheck>,
};

// The other direction: a key added to a type but not to its list fails to compile here.
type Missing<T, K extends readonly PropertyKey[]> = Exclude<keyof T, K[number]>;
type AssertNever<T extends never> = T;
export type KeyListsAreComplete = [
  AssertNever<Missing<WrittenManifest, typeof KEYS.manifest>>,
  AssertNever<Missing<WrittenRollbackPoint, typeof KEYS.rollbackPoint>>,
  AssertNever<Missing<WrittenDatabase, typeof KEYS.database>>,
  AssertNever<Missing<WrittenContainer, typeof KEYS.container>>,
  AssertNever<Missing<WrittenStep, typeof KEYS.step>>,
  AssertNever<Missing<WrittenCheck, typeof KEYS.check>>,
  AssertNever<Missing<WrittenNotification, typeof KEYS.notification>>,
  AssertNever<Missing<WrittenWatch, typeof KEYS.watch>>,
];

export const STEP_KINDS = ["run", "shell", "service", "sql", "check", "apt"] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** Which kind a step is: the one of STEP_KINDS it sets (the schema allows exactly one). */
export function stepKindOf(step: WrittenStep): StepKind | undefined {
  return STEP_KINDS.find((k) => step[k] !== undefined);
}
export const PROBES = ["http", "tcp", "command", "service"] as const;
