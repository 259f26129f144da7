/**
 * Regex engine benchmark: µs per full match for the engines meshgate could run Istio's RE2 regexes on.
 *
 * - `backtracking`: V8's default `RegExp` (what meshgate used before; exponential on `(a+)+b`).
 * - `v8-linear`: V8's experimental linear engine (`new RegExp(src, 'l')`, needs
 *   `--enable-experimental-regexp-engine`, set here with `v8.setFlagsFromString` before any compile).
 * - `re2js`: the pure-JS RE2 port (`RE2JS.compile(src).testExact(input)`), RE2 syntax and semantics.
 *
 * Run: `npm run build && node dist/bench/regex-engines.js [--iterations N]`. Prints one row per
 * (pattern, input, engine) and the same as JSON on the last line. Not part of `npm run bench`: it
 * needs no sockets and takes a few seconds.
 */
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { RE2JS } from 're2js';

v8.setFlagsFromString('--enable-experimental-regexp-engine');

interface Case {
  readonly name: string;
  readonly pattern: string;
  readonly input: string;
  /** Set for the pathological case: the backtracking engine is run once only, with a short input. */
  readonly pathological?: boolean;
}

const CASES: readonly Case[] = [
  { name: 'api-version', pattern: '/api/v[0-9]+/.*', input: '/api/v2/users/1234/orders?x=1' },
  { name: 'segments', pattern: '/users/[^/]+/orders/[0-9]+', input: '/users/alice/orders/98765' },
  { name: 'alternation', pattern: '/(productpage|static|login|logout)(/.*)?', input: '/static/css/app.css' },
  { name: 'header-ua', pattern: '.*(Mobile|Android).*', input: 'Mozilla/5.0 (Linux; Android 14) Chrome/120' },
  { name: 'no-match', pattern: '/api/v[0-9]+/.*', input: '/healthz/ready/and/some/longer/path/segment' },
  { name: 'redos-27', pattern: '/(a+)+b', input: `/${'a'.repeat(26)}`, pathological: true },
  { name: 'redos-10000', pattern: '/(a+)+b', input: `/${'a'.repeat(9999)}`, pathological: true },
];

type Engine = 'backtracking' | 'v8-linear' | 're2js';

function matcher(engine: Engine, pattern: string): (s: string) => boolean {
  if (engine === 're2js') {
    const re = RE2JS.compile(pattern);
    return (s) => re.testExact(s);
  }
  const re = new RegExp(`^(?:${pattern})$`, engine === 'v8-linear' ? 'l' : '');
  return (s) => re.test(s);
}

function measure(
  fn: (s: string) => boolean,
  input: string,
  iterations: number,
): { us: number; result: boolean } {
  let result = fn(input); // warm-up and result check
  for (let i = 0; i < Math.min(iterations, 1000); i++) result = fn(input);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) result = fn(input);
  const ns = Number(process.hrtime.bigint() - t0);
  return { us: ns / 1000 / iterations, result };
}

function main(): void {
  const { values } = parseArgs({ options: { iterations: { type: 'string', default: '20000' } } });
  const iterations = Number(values.iterations);
  const rows: {
    case: string;
    engine: Engine;
    inputChars: number;
    usPerMatch: number | null;
    result: boolean | null;
  }[] = [];
  for (const c of CASES) {
    for (const engine of ['backtracking', 'v8-linear', 're2js'] as const) {
      const fn = matcher(engine, c.pattern);
      if (c.pathological && engine === 'backtracking') {
        // 2^n steps: one run on the 27-char path only; the 10,000-char one would never finish.
        if (c.input.length > 40) {
          rows.push({ case: c.name, engine, inputChars: c.input.length, usPerMatch: null, result: null });
          continue;
        }
        const t0 = process.hrtime.bigint();
        const result = fn(c.input);
        const us = Number(process.hrtime.bigint() - t0) / 1000;
        rows.push({ case: c.name, engine, inputChars: c.input.length, usPerMatch: us, result });
        continue;
      }
      const n = c.pathological ? Math.max(1, Math.floor(iterations / 100)) : iterations;
      const { us, result } = measure(fn, c.input, n);
      rows.push({ case: c.name, engine, inputChars: c.input.length, usPerMatch: us, result });
    }
  }
  for (const r of rows) {
    const us = r.usPerMatch === null ? 'not run (exponential)' : `${r.usPerMatch.toFixed(3)} µs`;
    console.log(
      `${r.case.padEnd(12)} ${r.engine.padEnd(13)} ${String(r.inputChars).padStart(6)} chars  ${us}  ${r.result}`,
    );
  }
  console.log(JSON.stringify(rows));
}

main();
