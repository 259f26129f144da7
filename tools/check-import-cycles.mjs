/**
 * Import-cycle check for `npm test`: runs madge over the TypeScript sources (type-only imports
 * count: they tie the modules' layering together just the same) and fails on any cycle not listed
 * in `import-cycles-allowed.txt`, and on listed cycles that no longer exist (so the list shrinks).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import madge from 'madge';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = [
  'admin',
  'bench',
  'cli',
  'compile',
  'config',
  'gateway',
  'routes',
  'samples',
  'telemetry',
  'tls',
  'upstream',
];

const allowed = new Set(
  readFileSync(join(root, 'tools', 'import-cycles-allowed.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#')),
);
const result = await madge(
  SOURCES.map((d) => join(root, d)),
  { baseDir: root, fileExtensions: ['ts'], tsConfig: join(root, 'tsconfig.json') },
);
const found = result.circular().map((cycle) => cycle.join(' > '));
const files = Object.keys(result.obj()).length;
const unexpected = found.filter((c) => !allowed.has(c));
const gone = [...allowed].filter((c) => !found.includes(c));
for (const c of unexpected) console.error(`import cycle: ${c}`);
for (const c of gone)
  console.error(`no longer a cycle, remove it from tools/import-cycles-allowed.txt: ${c}`);
if (unexpected.length > 0 || gone.length > 0) process.exit(1);
console.log(`import cycles: ${files} modules, ${found.length} known cycle(s) allowed, no new ones`);
