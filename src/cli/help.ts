/** Help texts of the `ai-image` command, one per command. */
import { SPEC_SUFFIX } from '../core/service.js'

export const EXIT = {
  /** Success: everything cached (check), generated (generate), listed or pruned. */
  ok: 0,
  /** Problems found: missing or corrupt entries, invalid specs, failed generations, a budget reached. */
  problems: 1,
  /** Bad usage or configuration: unknown command or option, unreadable config file or options. */
  usage: 2,
} as const

const COMMON = `Options for every command:
  --root <dir>   project root (default: the current folder); ai-image.config.(ts|mts|mjs|js|json) is read there
  -h, --help     this help

Exit codes: 0 success, 1 problems found (missing or corrupt images, invalid specs, failed generation),
2 bad usage or configuration. Colour is off when NO_COLOR is set or output is not a terminal.`

export const HELP: Readonly<Record<string, string>> = {
  main: `ai-image: generate, check and tidy the committed cache of unplugin-ai-image

Usage: ai-image <command> [options]

Commands:
  generate [globs...]   generate every spec missing from the cache (--dry-run: estimate the cost, send nothing)
  check                 fail (exit 1) listing each spec whose image is missing or corrupt; needs no API key
  prune                 remove cache entries that no spec uses (--dry-run: only list them)
  ls                    list every spec with its key, model, size, status and cost (--json)

Run ai-image <command> --help for a command's options.
  -v, --version  print the version

${COMMON}`,
  generate: `Usage: ai-image generate [globs...] [--dry-run]

Generates every spec whose image is not in the cache, through the same engine as the bundler plugins
(concurrency, rate limits, retries, budget), with progress on stderr and a closing summary. Specs are
*${SPEC_SUFFIX} files (include/exclude options), the named specs of the \`images\` option, and
virtual:ai-image?… imports found in source files. Globs narrow the run to matching spec files.
Generating is never frozen: running this command is the explicit go-ahead to spend.

  --dry-run      list the misses with the estimated cost of each and the total; send no request

${COMMON}`,
  check: `Usage: ai-image check

Exits 1 listing each spec whose cache entry is missing or fails verification (its image bytes do not match
the SHA-256 in the sidecar), and each invalid spec; exits 0 when every spec is cached and verified.
Needs no API key and sends no request: for CI and pre-commit hooks.

${COMMON}`,
  prune: `Usage: ai-image prune [--dry-run]

Removes every cache entry (sidecar and images) that no current spec uses, derived files (resized,
converted, placeholders) of images no longer in the cache, and leftovers of interrupted runs. Refuses
to run while a spec is invalid, since its entry could not be told apart from an unused one.

  --dry-run      list what would be removed; remove nothing

${COMMON}`,
  ls: `Usage: ai-image ls [--json]

Lists every spec: file (or virtual id), cache key, model, size, status (hit, miss, corrupt, invalid)
and cost (the estimate from the price table; tokens recorded in the sidecar for hits).

  --json         print a JSON array instead of a table

${COMMON}`,
}
