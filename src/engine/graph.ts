import type { AnyStateMachine } from "xstate";

interface NodeLike {
  key: string;
  id: string;
  type: string;
  states: Record<string, NodeLike>;
  config: {
    invoke?:
      | { src: string; onDone?: unknown; onError?: unknown }
      | Array<{ src: string; onDone?: unknown; onError?: unknown }>;
    on?: Record<string, unknown>;
    always?: unknown;
  };
}

/**
 * The compiled machine as a Mermaid `stateDiagram-v2`, read from the machine itself (its state
 * nodes and their invoke/on transitions), so the picture cannot disagree with what runs.
 */
export function mermaid(machine: AnyStateMachine): string {
  const lines = ["stateDiagram-v2", "  [*] --> preflight"];
  // Mermaid ids are words: dots (nesting) and anything else become underscores.
  const name = (id: string) => id.replace(/^update\./, "").replace(/[^A-Za-z0-9_]/g, "_");
  const targetsOf = (t: unknown): string[] => {
    if (!t) return [];
    if (typeof t === "string") return [t];
    if (Array.isArray(t)) return t.flatMap(targetsOf);
    const target = (t as { target?: unknown }).target;
    return target === undefined ? [] : targetsOf(target);
  };
  const resolve = (from: NodeLike, target: string) =>
    target.startsWith("#")
      ? target.slice(1)
      : `${from.id.split(".").slice(0, -1).join(".")}.${target}`;
  const visit = (node: NodeLike, indent = "  ") => {
    for (const child of Object.values(node.states)) {
      const invokes = [child.config.invoke ?? []].flat();
      for (const inv of invokes) {
        for (const [outcome, transitions] of [
          ["done", inv.onDone],
          ["failed", inv.onError],
        ] as const) {
          for (const t of [transitions ?? []].flat()) {
            const guard = guardOf(t);
            for (const target of targetsOf(t))
              lines.push(
                `${indent}${name(child.id)} --> ${name(resolve(child, target))}: ${inv.src} ${outcome}${guard ? ` [${guard}]` : ""}`,
              );
          }
        }
      }
      for (const [event, transitions] of Object.entries(child.config.on ?? {})) {
        for (const t of [transitions ?? []].flat()) {
          const guard = guardOf(t);
          for (const target of targetsOf(t))
            lines.push(
              `${indent}${name(child.id)} --> ${name(resolve(child, target))}: ${event}${guard ? ` [${guard}]` : ""}`,
            );
        }
      }
      // Eventless transitions: a skipped undo, the rollback's verdict.
      for (const t of [child.config.always ?? []].flat()) {
        const label = guardOf(t) ?? "otherwise";
        for (const target of targetsOf(t))
          lines.push(`${indent}${name(child.id)} --> ${name(resolve(child, target))}: ${label}`);
      }
      if (child.type === "final") lines.push(`${indent}${name(child.id)} --> [*]`);
      if (Object.keys(child.states).length) {
        lines.push(`${indent}state ${name(child.id)} {`);
        visit(child, `${indent}  `);
        lines.push(`${indent}}`);
      }
    }
  };
  visit(machine.root as unknown as NodeLike);
  // A transition drawn twice (an event in a parent and a child) once; braces are kept as they are.
  const seen = new Set<string>();
  const unique = lines.filter((l) => /^\s*}$/.test(l) || (!seen.has(l) && seen.add(l)));
  return `${unique.join("\n")}\n`;
}

/** The name of a transition's guard, if it has one. */
function guardOf(transition: unknown): string | undefined {
  const guard = (transition as { guard?: unknown } | null)?.guard;
  if (typeof guard === "string") return guard;
  return (guard as { type?: string } | undefined)?.type;
}
