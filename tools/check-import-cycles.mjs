/**
 * Import check for `npm test`: runs madge over the TypeScript sources (type-only imports count:
 * they tie the modules' layering together just the same) and fails
 * - on any import cycle not listed in `import-cycles-allowed.txt`, and on listed cycles that no
 *   longer exist (so the list only shrinks);
 * - on any import that breaks a layer rule of `import-layers.txt` (e.g. the model importing the
 *   compilers).
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

/** Non-empty, non-comment lines of a file under tools/. */
function lines(name) {
  return readFileSync(join(root, 'tools', name), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

const allowed = new Set(lines('import-cycles-allowed.txt'));
const rules = lines('import-layers.txt').map((l) => {
  const [path, ...forbidden] = l.split(/\s+/);
  return { path, forbidden };
});
/** The rule of a file: the one with the longest path that is the file or a folder holding it. */
function ruleFor(file) {
  let best;
  for (const r of rules) {
    const hit = r.path.endsWith('/') ? file.startsWith(r.path) : file === r.path;
    if (hit && (!best || r.path.length > best.path.length)) best = r;
  }
  return best;
}

const result = await madge(
  SOURCES.map((d) => join(root, d)),
  { baseDir: root, fileExtensions: ['ts'], tsConfig: join(root, 'tsconfig.json') },
);
const graph = result.obj();
const found = result.circular().map((cycle) => cycle.join(' > '));
const files = Object.keys(graph).length;
const unexpected = found.filter((c) => !allowed.has(c));
const gone = [...allowed].filter((c) => !found.includes(c));
const violations = [];
for (const [file, deps] of Object.entries(graph)) {
  const rule = ruleFor(file);
  if (!rule) continue;
  for (const dep of deps) {
    const layer = rule.forbidden.find((f) => dep.startsWith(f));
    if (layer) violations.push(`${file} imports ${dep} (${rule.path} may not import ${layer})`);
  }
}
for (const c of unexpected) console.error(`import cycle: ${c}`);
for (const c of gone)
  console.error(`no longer a cycle, remove it from tools/import-cycles-allowed.txt: ${c}`);
for (const v of violations) console.error(`layer rule broken: ${v}`);
if (unexpected.length > 0 || gone.length > 0 || violations.length > 0) process.exit(1);
console.log(
  `imports: ${files} modules, ${found.length} cycle(s) (all allowed), ${rules.length} layer rules hold`,
);
