/**
 * The command line's usage errors and `--version`, run as a user runs it (the built CLI in a child
 * process), plus the "did you mean" distance rule.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { editDistance, suggestFlag } from '../../cli/flag-suggestion.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

describe('meshgate command line', () => {
  it.each([['--version'], ['version'], ['run', '--version']])('%s prints the version', (...args) => {
    const r = run(...args);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`meshgate ${version}\n`);
  });

  it('an unknown --log-level is a usage error (exit 2, one line), not a stack trace', () => {
    const r = run('run', '-f', 'nowhere.yaml', '--log-level', 'loud');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'meshgate: --log-level: "loud" must be one of trace, debug, info, warn, error, fatal, silent\n',
    );
  });

  it('suggests the flag a typo meant', () => {
    const r = run('run', '-f', 'x.yaml', '--tracing-endpont', 'http://x');
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(
      "meshgate: Unknown option '--tracing-endpont' (did you mean --tracing-endpoint?)",
    );
  });

  it('suggests nothing for a flag far from every known one', () => {
    const r = run('validate', '-f', 'x.yaml', '--frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("meshgate: Unknown option '--frobnicate'");
  });
});

describe('suggestFlag', () => {
  it.each([
    ['log-levl', 'log-level'],
    ['mesh-prot', 'mesh-port'],
    ['adminport', 'admin-port'],
    ['x', undefined],
    ['tracing', undefined],
  ])('%s → %s', (given, expected) => {
    expect(suggestFlag(given, ['log-level', 'mesh-port', 'admin-port', 'tracing-endpoint'])).toBe(expected);
  });

  it('counts edits', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
