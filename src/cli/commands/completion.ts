import type { Command, Option } from "commander";
import { GlobalRollbackError } from "../../errors.js";
import { ExitCode } from "../exit-codes.js";

/** `rollpoint completion [bash|zsh]`: a shell completion script, made from the command tree. */
export function registerCompletion(
  program: Command,
  run: (fn: () => Promise<ExitCode>) => Promise<void>,
): void {
  program
    .command("completion")
    .argument("[shell]", "bash or zsh", "bash")
    .description(
      'print a completion script: eval "$(rollpoint completion bash)", or save it as /etc/bash_completion.d/rollpoint',
    )
    .action((shell: string) =>
      run(async () => {
        if (shell !== "bash" && shell !== "zsh") {
          throw new GlobalRollbackError(
            "INVALID_ARGUMENT",
            `completion is for bash or zsh, got ${JSON.stringify(shell)}`,
          );
        }
        const script = bashScript(program);
        process.stdout.write(
          shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${script}` : script,
        );
        return ExitCode.ok;
      }),
    );
}

const flags = (options: readonly Option[]) =>
  options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f)));

/**
 * One case per command path: its subcommands and options, and the global options everywhere.
 * Words that are not commands (a manifest, an id) complete as file names.
 */
function bashScript(program: Command): string {
  const global = flags(program.options);
  const cases: string[] = [
    `    "") words="${[...program.commands.map((c) => c.name()), ...global, "--help"].join(" ")}" ;;`,
  ];
  for (const command of program.commands) {
    const own = [...command.commands.map((c) => c.name()), ...flags(command.options)];
    cases.push(`    "${command.name()}") words="${[...own, ...global, "--help"].join(" ")}" ;;`);
    for (const sub of command.commands) {
      cases.push(
        `    "${command.name()} ${sub.name()}") words="${[...flags(sub.options), ...global, "--help"].join(" ")}" ;;`,
      );
    }
  }
  // Options that take a value: the word after one is not a command.
  const all = [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)];
  const valued = [
    ...new Set(all.flatMap((c) => flags(c.options.filter((o) => o.required || o.optional)))),
  ].join("|");
  const withSubcommands = program.commands
    .filter((c) => c.commands.length > 0)
    .map((c) => c.name())
    .join("|");
  return `# rollpoint completion for bash (and zsh through bashcompinit); made by \`rollpoint completion\`.
_rollpoint() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" w i
  case "$prev" in
    --store) COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
  esac
  for (( i=1; i<COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${valued}) i=$((i+1)) ;;
      -*) ;;
      *) if [ -z "$path" ]; then path="$w"
         else case "$path" in ${withSubcommands || "_none_"}) path="$path $w" ;; esac
         fi ;;
    esac
  done
  local words=""
  case "$path" in
${cases.join("\n")}
  esac
  if [[ "$cur" == -* || ( -n "$words" && ( -z "$path" || "$path" == ${withSubcommands ? `@(${withSubcommands})` : "_none_"} ) ) ]]; then
    COMPREPLY=( $(compgen -W "$words" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
shopt -s extglob 2>/dev/null
complete -o filenames -F _rollpoint rollpoint
`;
}
