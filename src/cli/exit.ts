import { constants as osConstants } from 'node:os';
import { CommanderError } from 'commander';
import { NetError } from '../index.js';

/** The exit codes every socktool command uses. */
export const Exit = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  TIMEOUT: 3,
  UNREACHABLE: 4,
  ADDRESS: 5,
  UNAVAILABLE: 6,
  /** The server answered, with an error: an HTTP error status (http-get --fail), an error reply (call), bad echoes (bench). */
  ERROR_ANSWER: 7,
} as const;

/** The table shown in `socktool --help` and docs/cli.md. */
export const EXIT_HELP = `Exit codes:
  0  success
  1  other network or runtime failure
  2  usage error (bad port, bad address or path, unknown option or command)
  3  timeout
  4  connection refused, host or path unreachable
  5  address in use or permission denied
  6  needs the native addon, which this install lacks (the error says how to build it)
  7  the server answered with an error: an error reply to call; with http-get --fail, an HTTP status
     of 400 or more; echoes corrupt, lost or missing under bench`;

/** Each code in a word or two, for a command's own help line. */
const SHORT: Record<number, string> = {
  [Exit.OK]: 'ok', [Exit.FAILURE]: 'failed', [Exit.USAGE]: 'usage', [Exit.TIMEOUT]: 'timeout', [Exit.UNREACHABLE]: 'refused',
  [Exit.ADDRESS]: 'in use/denied', [Exit.UNAVAILABLE]: 'no addon', [Exit.ERROR_ANSWER]: 'bad answer',
};

/** The codes a command can return, on one line of its help (the table is `socktool --help`'s). */
export const exitCodesLine = (codes: readonly number[]): string =>
  `Exit codes: ${codes.map((c) => `${c} ${SHORT[c]}`).join(', ')}`;

const BY_CODE: Record<string, number> = {
  ERR_SOCKTOOL_BAD_ADDRESS: Exit.USAGE,
  ERR_SOCKTOOL_WRONG_SHAPE: Exit.USAGE,
  ETIMEDOUT: Exit.TIMEOUT,
  ECONNREFUSED: Exit.UNREACHABLE,
  ENOENT: Exit.UNREACHABLE,
  ENOTFOUND: Exit.UNREACHABLE,
  EAI_AGAIN: Exit.UNREACHABLE,
  EHOSTUNREACH: Exit.UNREACHABLE,
  ENETUNREACH: Exit.UNREACHABLE,
  EADDRINUSE: Exit.ADDRESS,
  EADDRNOTAVAIL: Exit.ADDRESS,
  EACCES: Exit.ADDRESS,
  EPERM: Exit.ADDRESS,
  ERR_SOCKTOOL_ADDON_UNAVAILABLE: Exit.UNAVAILABLE,
};

/** What a command came to when it is not a socket's error; each is one exit code, chosen here. */
export type Outcome =
  /** Something failed that has no more particular code. */
  | 'failure'
  /** What the user typed cannot work (a bad port list, an option that does not apply). */
  | 'usage'
  /** The server answered, with an error (an error reply, an HTTP error status, bad echoes). */
  | 'error-answer';

const BY_OUTCOME: Record<Outcome, number> = { failure: Exit.FAILURE, usage: Exit.USAGE, 'error-answer': Exit.ERROR_ANSWER };

/**
 * The exit code for how a command ended: a CliError by its outcome, a NetError by its code, commander's own
 * (help and version are successes, the rest usage errors), anything else 1.
 */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof NetError) return BY_CODE[err.code] ?? Exit.FAILURE;
  if (err instanceof CommanderError) return err.exitCode === 0 ? Exit.OK : Exit.USAGE;
  return Exit.FAILURE;
}

/** A signal's exit code, as a shell reports a process it killed: 128 + its number (SIGINT 130, SIGTERM 143). */
export const exitCodeForSignal = (signal: 'SIGINT' | 'SIGTERM'): number => 128 + osConstants.signals[signal];

/** A failure the CLI itself finds (not a socket's): its message is the one stderr line. */
export class CliError extends Error {
  readonly exitCode: number;

  /** `code`: what the `error` event of --json names it by (default: `usage` or `failure`). */
  constructor(message: string, readonly outcome: Outcome = 'failure', readonly code: string = outcome === 'usage' ? 'usage' : 'failure') {
    super(message);
    this.exitCode = BY_OUTCOME[outcome];
  }
}

/** A mistake in what the user typed that commander cannot see (a bad port list, an unreadable --cert …): exit 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 'usage');
  }
}
