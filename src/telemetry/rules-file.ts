/**
 * The target rules file (`PERF_RULES_FILE`): read at start, and read again when it changes and when
 * asked to (the server asks on SIGHUP). A file that cannot be used at start stops the start (the
 * sidecar must not run with rules other than those written); a file that cannot be used later
 * keeps the rules loaded before, with a warning that says why.
 *
 * Changes are noticed by watching the file's directory rather than the file: editors save by
 * writing a new file and renaming it over the old one, which a watch on the old inode never sees,
 * and Kubernetes swaps a ConfigMap's files by renaming a `..data` link. Events come in bursts, so
 * a reload runs once, a short delay after the first event of a burst.
 */
import { closeSync, type FSWatcher, openSync, readSync, statSync, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { accepts, integer, parseOptions, withMethods } from '../shared/options.ts';
import { MAX_TARGET_SECONDS } from './operations.ts';
import { MAX_RULES_FILE_BYTES, parseRules, RulesError, type SizedRuleSet } from './rules.ts';

/** The rules in force, reloaded when the file changes. */
export interface RulesWatcher {
  /**
   * The rules in force. A reload replaces the whole set at once: a set obtained here keeps
   * matching, unchanged, however many reloads follow.
   */
  current(): SizedRuleSet;
  /**
   * Reads the file again. Resolves `true` when its rules are now in force, `false` when the file
   * could not be used (the rules before stay, and a warning says why) or the watcher is closed.
   * Never rejects; calls made while one runs are served by one more read after it.
   */
  reload(): Promise<boolean>;
  /** Stops watching (pending reloads resolve `false`). */
  close(): void;
}

const watchRulesOptionsSchema = z.strictObject({
  /** The rules file (YAML or JSON). */
  file: accepts(z.string().min(1).max(4096), 'the path of the rules file (1 to 4096 characters)'),
  /** The target table that `kind` names resolve in (`PERF_TARGETS` merged over the defaults). */
  targets: accepts(
    z.record(z.string(), z.number().gt(0).max(MAX_TARGET_SECONDS)),
    `an object of names to seconds greater than 0, at most ${MAX_TARGET_SECONDS}`,
  ),
  /** Where reloads and their problems are logged. Default: perf-sidecar's logger. */
  logger: withMethods<Logger>(['info', 'warn'], 'a pino logger').optional(),
  /** Delay between the first change event of a burst and the reload, ms. Default 200. */
  debounceMs: integer(0, 10_000, 'ms').default(200),
});

/** Options of {@link watchRules}. */
export type WatchRulesOptions = z.input<typeof watchRulesOptionsSchema>;

const READABLE_FORM = 'a readable rules file (YAML or JSON)';

function readProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)';
  if (code === 'EISDIR') return 'is a directory';
  return `cannot be read (${code ?? errorText(error)})`;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text of the rules file, at most {@link MAX_RULES_FILE_BYTES} bytes of UTF-8. Read
 * synchronously: at most 1 MiB, and compiling it is synchronous anyway; this lets the telemetry
 * load its rules while it starts (which is synchronous), so a broken file stops the start.
 */
function readRulesText(file: string): string {
  let size: number;
  try {
    // A stat first: opening a FIFO or a device would block until it delivers.
    const info = statSync(file);
    if (!info.isFile()) throw new RulesError(file, '', 'is not a regular file', READABLE_FORM);
    size = info.size;
  } catch (error) {
    if (error instanceof RulesError) throw error;
    throw new RulesError(file, '', readProblem(error), READABLE_FORM, { cause: error });
  }
  const tooLarge = (bytes: number) =>
    new RulesError(
      file,
      '',
      `is ${bytes} bytes long`,
      `a rules file of at most ${MAX_RULES_FILE_BYTES} bytes`,
    );
  if (size > MAX_RULES_FILE_BYTES) throw tooLarge(size);
  // At most one byte past the limit is read: the file may have grown since the stat.
  const buffer = Buffer.alloc(MAX_RULES_FILE_BYTES + 1);
  let length = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      for (;;) {
        const bytesRead = readSync(fd, buffer, length, buffer.length - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > MAX_RULES_FILE_BYTES) throw tooLarge(length);
      }
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if (error instanceof RulesError) throw error;
    throw new RulesError(file, '', readProblem(error), READABLE_FORM, { cause: error });
  }
  try {
    return UTF8.decode(buffer.subarray(0, length));
  } catch (cause) {
    throw new RulesError(file, '', 'is not UTF-8 text', `${READABLE_FORM} in UTF-8`, { cause });
  }
}

/**
 * Reads and compiles the rules file once.
 *
 * @throws {RulesError} when the file is missing, unreadable, over 1 MiB, or not a valid document.
 */
export async function loadRulesFile(
  file: string,
  targets: Readonly<Record<string, number>>,
): Promise<SizedRuleSet> {
  return loadRulesFileSync(file, targets);
}

/** {@link loadRulesFile}, synchronously. */
function loadRulesFileSync(file: string, targets: Readonly<Record<string, number>>): SizedRuleSet {
  return parseRules(readRulesText(file), { file, targets });
}

/** What identifies one version of the file on disk (following links). */
function signatureOfSync(file: string): string | undefined {
  try {
    const info = statSync(file, { bigint: true });
    return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/** What identifies one version of the file on disk (following links). */
async function signatureOf(file: string): Promise<string | undefined> {
  try {
    const info = await stat(file, { bigint: true });
    return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch {
    return undefined;
  }
}

class FileRulesWatcher implements RulesWatcher {
  readonly #file: string;
  readonly #name: string;
  readonly #targets: Readonly<Record<string, number>>;
  readonly #logger: Logger;
  readonly #debounceMs: number;
  #rules: SizedRuleSet;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Whether an event of the pending burst named the file (else only a changed signature reloads). */
  #named = false;
  #signature: string | undefined;
  #running: Promise<boolean> | undefined;
  #again: Promise<boolean> | undefined;
  #closed = false;

  constructor(
    file: string,
    targets: Readonly<Record<string, number>>,
    logger: Logger,
    debounceMs: number,
    rules: SizedRuleSet,
  ) {
    this.#file = file;
    this.#name = basename(file);
    this.#targets = targets;
    this.#logger = logger;
    this.#debounceMs = debounceMs;
    this.#rules = rules;
  }

  current(): SizedRuleSet {
    return this.#rules;
  }

  /**
   * Starts watching the directory (a warning when it cannot be: SIGHUP still reloads).
   *
   * @param signature the file's signature from before it was loaded: a change made since is reloaded.
   */
  watch(signature: string | undefined): void {
    this.#signature = signature;
    try {
      // Not persistent: watching must never keep the process alive.
      this.#watcher = watch(dirname(resolve(this.#file)), { persistent: false }, (_event, filename) =>
        this.#changed(filename),
      );
      this.#watcher.on('error', (error) => {
        this.#logger.warn(
          { file: this.#file, err: errorText(error) },
          'stopped watching the target rules file; it is still reloaded on SIGHUP',
        );
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (error) {
      this.#logger.warn(
        { file: this.#file, err: errorText(error) },
        'cannot watch the target rules file for changes; it is reloaded on SIGHUP only',
      );
    }
    void this.#reloadIfChanged(false);
  }

  #changed(filename: string | Buffer | null): void {
    if (this.#closed) return;
    const name = filename === null ? null : String(filename);
    // `..data` is the link Kubernetes renames to swap a ConfigMap's files at once.
    if (name === null || name === this.#name || name === '..data') this.#named = true;
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const named = this.#named;
      this.#named = false;
      void this.#reloadIfChanged(named);
    }, this.#debounceMs);
    this.#timer.unref();
  }

  /** Other files of the directory changed: reload only when the rules file itself is not the same. */
  async #reloadIfChanged(named: boolean): Promise<void> {
    if (!named && (await signatureOf(this.#file)) === this.#signature) return;
    await this.reload();
  }

  reload(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#again !== undefined) return this.#again;
    const running = this.#running;
    if (running === undefined) return this.#start();
    // One more read after the running one, shared by every call made meanwhile: it sees the latest file.
    const again = running.then(() => {
      this.#again = undefined;
      return this.#start();
    });
    this.#again = again;
    return again;
  }

  #start(): Promise<boolean> {
    const run = this.#load().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  async #load(): Promise<boolean> {
    if (this.#closed) return false;
    const signature = await signatureOf(this.#file);
    try {
      const rules = await loadRulesFile(this.#file, this.#targets);
      if (this.#closed) return false;
      this.#rules = rules;
      this.#signature = signature;
      this.#logger.info({ file: this.#file, rules: rules.size }, 'target rules loaded');
      return true;
    } catch (error) {
      this.#signature = signature;
      if (this.#closed) return false;
      this.#logger.warn(
        {
          file: this.#file,
          path: error instanceof RulesError ? error.path : undefined,
          rules: this.#rules.size,
        },
        `target rules not reloaded, the ${this.#rules.size} rules loaded before stay in force: ${errorText(error)}`,
      );
      return false;
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

/**
 * Loads the rules file and keeps it loaded: reloaded when it changes (a watch on its directory)
 * and on {@link RulesWatcher.reload}.
 *
 * @throws {RulesError} when the file cannot be used now: missing, unreadable, over 1 MiB, or not a
 *   valid rules document (the message names the file, the place and what was expected).
 * @throws {InvalidArgumentError} on bad options.
 */
export async function watchRules(options: WatchRulesOptions): Promise<RulesWatcher> {
  return watchRulesSync(options);
}

/**
 * {@link watchRules}, loading the file synchronously: for the telemetry's start, which is
 * synchronous and must stop on a broken rules file.
 *
 * @throws {RulesError} as {@link watchRules} does.
 * @throws {InvalidArgumentError} on bad options.
 */
export function watchRulesSync(options: WatchRulesOptions): RulesWatcher {
  const {
    file,
    targets,
    logger = getLogger(),
    debounceMs,
  } = parseOptions(watchRulesOptionsSchema, options, {
    what: 'an option of watchRules',
  });
  const signature = signatureOfSync(file);
  const rules = loadRulesFileSync(file, targets);
  const watcher = new FileRulesWatcher(file, targets, logger, debounceMs, rules);
  watcher.watch(signature);
  logger.info({ file, rules: rules.size }, 'target rules loaded');
  return watcher;
}
