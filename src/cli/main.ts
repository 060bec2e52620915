import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { NetError } from '../index.js';
import { Exit, EXIT_HELP, exitCodeFor } from './exit.js';
import { handlerFor, runServer, SERVERS, UNIX_TYPES, type ServerOptions } from './servers.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number 0-65535.');
  return Number(value);
}

/** The program, built from the command tables; it holds no socket code of its own. */
export function buildProgram(): Command {
  const program = new Command('socktool')
    .description('BSD sockets from the shell: TCP, UDP and Unix sockets behind one address grammar')
    .version(version)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`socktool: ${text.replace(/^error: /, '')}`) })
    .addHelpText('after', `\nExamples:\n  ${SERVERS.flatMap((s) => s.examples).join('\n  ')}\n\n${EXIT_HELP}\n`);

  for (const s of SERVERS) {
    const cmd = program.command(s.args ? `${s.name} ${s.args}` : s.name).description(s.summary);
    if (s.port !== undefined) {
      cmd.option('--host <host>', 'address to listen on', '127.0.0.1')
        .option('--port <port>', 'port to listen on (0 picks a free one)', parsePort, s.port);
    }
    if (s.upperOption) cmd.option('--upper', 'reply in upper case, as the classic tutorial server does');
    if (s.typeOption) {
      cmd.addOption(new Option('--type <type>', 'socket type').choices(Object.keys(UNIX_TYPES)).default('stream'));
    }
    cmd.addHelpText('after', `\nExamples:\n  ${s.examples.join('\n  ')}\n\n${EXIT_HELP}\n`);
    cmd.action(async (...params: unknown[]) => {
      const opts = cmd.opts<ServerOptions>();
      const args = params.slice(0, cmd.registeredArguments.length) as string[];
      await runServer(s.address(args, opts), handlerFor(opts));
    });
  }
  return program;
}

/** Runs the CLI: every failure ends as one line on stderr and a documented exit code, never a stack trace. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
    process.exit(Exit.OK);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its one line (or the help / version, which are successes).
      process.exit(err.exitCode === 0 ? Exit.OK : Exit.USAGE);
    }
    const text = err instanceof NetError ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}`;
    process.stderr.write(`socktool: ${text}\n`);
    if (!(err instanceof NetError) && process.env.SOCKTOOL_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
    process.exit(exitCodeFor(err));
  }
}
