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
  generate [globs...]   generate every spec missing from the cache (--dry-run: estimate the cost, send nothing;
                        --batch: through OpenAI's Batch API at half price, results within 24 hours)
  check                 fail (exit 1) listing each spec whose image is missing or corrupt; needs no API key
  prune                 remove cache entries that no spec uses (--dry-run: only list them)
  ls                    list every spec with its key, model, size, status and cost (--json)
  gallery --out <dir>   write a static contact sheet of every spec's images (--since <git-ref>: only changed ones)

Run ai-image <command> --help for a command's options.
  -v, --version  print the version

${COMMON}`,
  generate: `Usage: ai-image generate [globs...] [--dry-run]
       ai-image generate --batch [globs...] [--wait] [--cancel] [--dry-run] [--interval <seconds>]

Generates every spec whose image is not in the cache, through the same engine as the bundler plugins
(concurrency, rate limits, retries, budget), with progress on stderr and a closing summary. Specs are
*${SPEC_SUFFIX} files (include/exclude options), the named specs of the \`images\` option, and
virtual:ai-image?… imports found in source files. Globs narrow the run to matching spec files.
Generating is never frozen: running this command is the explicit go-ahead to spend.
A spec pending in a batch is not generated (it would be paid twice): it is reported as pending.

  --dry-run      list the misses with the estimated cost of each and the total; send no request

  --batch        use OpenAI's Batch API (50% of the price, results within 24 hours; gpt-image-2,
                 gpt-image-1.5, chatgpt-image-latest, gpt-image-1, gpt-image-1-mini; not Azure):
                 collect every finished batch recorded in <cacheDir>/batches/ into the cache, then
                 submit the specs still missing (same checks and budget as generate, at batch prices)
                 and exit. Until collected, builds, check and the dev server report those specs as
                 pending and never generate them. Run it again later, on any machine with the key,
                 to collect; what an expired batch did not finish is submitted again.
  --wait         with --batch: stay, with progress on stderr, until every batch is collected
  --cancel       with --batch: cancel the pending batches (those of the globs' specs, if given), wait
                 until they stop and keep what they finished; their other specs are no longer pending
  --interval <seconds>
                 with --wait or --cancel: between two looks at pending batches (default 60, at least 1)
  --dry-run      with --batch: list what would be submitted, at batch prices, and pending specs; send nothing

Exits 1 when a spec failed (invalid, refused by the Batch API or the budget, its batch line failed)
or, without --batch, when a spec is pending in a batch; pending specs alone do not fail --batch.

${COMMON}`,
  check: `Usage: ai-image check

Exits 1 listing each spec whose cache entry is missing or fails verification (its image bytes do not match
the SHA-256 in the sidecar), each spec pending in a batch (with its batch and age), and each invalid spec;
exits 0 when every spec is cached and verified.
Needs no API key and sends no request: for CI and pre-commit hooks.

${COMMON}`,
  prune: `Usage: ai-image prune [--dry-run]

Removes every cache entry (sidecar and images) that no current spec uses, derived files (resized,
converted, placeholders) of images no longer in the cache, and leftovers of interrupted runs. Refuses
to run while a spec is invalid, since its entry could not be told apart from an unused one.

  --dry-run      list what would be removed; remove nothing

${COMMON}`,
  gallery: `Usage: ai-image gallery --out <dir> [--since <git-ref>]

Writes <dir>/index.html and <dir>/images/: every spec with its candidates (the picked one marked), prompt,
model, size, quality, revised prompt and cost, missing, corrupt and invalid specs shown as such. Made from
the cache alone: no API key, no request. The folder opens from the file system (no server, no network),
or upload it as a CI artifact.

  --out <dir>        the folder to write (made if needed; not the project root, not inside the cache)
  --since <git-ref>  only specs whose images changed since that commit, old and new side by side
                     (added and removed specs too): the view a reviewer of a pull request needs

Exits 0 once the sheet is written (whatever the specs' statuses), 2 for a bad --out or --since.

${COMMON}`,
  ls: `Usage: ai-image ls [--json]

Lists every spec: file (or virtual id), cache key, model, size, status (hit, miss, corrupt, invalid,
pending: a batch is making it, with its batch and age) and cost (the estimate from the price table; tokens recorded in the sidecar for hits).

  --json         print a JSON array instead of a table

${COMMON}`,
}
