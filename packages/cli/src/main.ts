#!/usr/bin/env node
/**
 * `tollgate`: budgets as code and the admin routes from a shell. Exit codes
 * (README): 0 ok, 1 refused by the API or an invalid file (field errors on
 * stderr), 2 usage error, 3 Tollgate unreachable. Results go to stdout,
 * everything else to stderr, so `--json` output pipes cleanly.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { applyBudgets } from "./budgets";
import { check, createKey, identityOptions, listBudgets, listKeys, revokeKey, usage } from "./commands";
import { CliError, createClient, EXIT, usageError } from "./http";

const HELP = `usage: tollgate <command> [options]

  budgets apply -f <file.yaml> [--dry-run] [--prune]
  budgets list [--json]
  usage --user <id> | --project <id> | --agent <id> | --team <id> | --session <id> [--org <id>]
  keys create --role admin|agent|viewer --name <name> [--org <id>] [--bound k=v]… [--default k=v]…
  keys list [--json]
  keys revoke <id>
  check --model <model> --input-tokens <n> [--max-output-tokens <n>] [--user|--project|--agent|--team|--session|--org <id>]

  --url <url>   enforcement URL (else $TOLLGATE_URL, else http://127.0.0.1:8080)
  --key <key>   API key (else $TOLLGATE_KEY)

exit codes: 0 ok, 1 refused by Tollgate or invalid input, 2 usage error, 3 Tollgate unreachable`;

const common = {
  url: { type: "string" },
  key: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Options = NonNullable<ParseArgsConfig["options"]>;
const COMMANDS: Record<string, Options> = {
  "budgets apply": {
    file: { type: "string", short: "f" },
    "dry-run": { type: "boolean" },
    prune: { type: "boolean" },
  },
  "budgets list": {},
  usage: identityOptions,
  "keys create": {
    role: { type: "string" },
    name: { type: "string" },
    org: { type: "string" },
    bound: { type: "string", multiple: true },
    default: { type: "string", multiple: true },
  },
  "keys list": {},
  "keys revoke": {},
  check: {
    ...identityOptions,
    model: { type: "string" },
    "input-tokens": { type: "string" },
    "max-output-tokens": { type: "string" },
  },
};

async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [first, second] = argv;
  const name = first === "budgets" || first === "keys" ? `${first} ${second ?? ""}` : (first ?? "");
  if (argv.length === 0 || first === "--help" || first === "-h" || first === "help") {
    console.log(HELP);
    return EXIT.ok;
  }
  if (!Object.hasOwn(COMMANDS, name)) throw usageError(`unknown command: ${name.trim()}\n\n${HELP}`);
  const rest = argv.slice(name.split(" ").length);
  let parsed: { values: Record<string, string | boolean | Array<string | boolean> | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: { ...common, ...COMMANDS[name] }, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(`${name}: ${(err as Error).message}`);
  }
  const { values: opts, positionals } = parsed;
  if (opts.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (positionals.length > (name === "keys revoke" ? 1 : 0)) {
    throw usageError(`${name}: unexpected argument ${positionals.at(-1)}`);
  }
  const key = (opts.key as string | undefined) ?? env.TOLLGATE_KEY;
  if (!key) throw usageError("no API key: give --key or set TOLLGATE_KEY");
  const client = createClient({
    url: (opts.url as string | undefined) ?? env.TOLLGATE_URL ?? "http://127.0.0.1:8080",
    key,
  });
  const asJson = opts.json === true;
  const print = (text: string) => console.log(text);
  switch (name) {
    case "budgets apply":
      if (typeof opts.file !== "string") throw usageError("budgets apply needs -f <file.yaml>");
      await applyBudgets(
        client,
        { file: opts.file, dryRun: opts["dry-run"] === true, prune: opts.prune === true },
        print,
      );
      break;
    case "budgets list":
      print(await listBudgets(client, asJson));
      break;
    case "usage":
      print(await usage(client, opts));
      break;
    case "keys create":
      print(await createKey(client, opts as Parameters<typeof createKey>[1]));
      break;
    case "keys list":
      print(await listKeys(client, asJson));
      break;
    case "keys revoke":
      print(await revokeKey(client, positionals[0]));
      break;
    case "check":
      print(await check(client, opts));
      break;
  }
  return EXIT.ok;
}

try {
  process.exitCode = await run(process.argv.slice(2), process.env);
} catch (err) {
  if (err instanceof CliError) {
    console.error(`tollgate: ${err.message}`);
    process.exitCode = err.code;
  } else {
    // A bug of the CLI, not an answer of Tollgate: the stack helps more than a code.
    console.error(err);
    process.exitCode = 70;
  }
}
