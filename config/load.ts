// TEMPORARY minimal loader (replaced by the full loader being written in parallel).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, LineCounter } from 'yaml';
import type { Diagnostic } from './diagnostics.js';
import { API_VERSIONS, KINDS, type Kind, type Resource } from './resources.js';

export interface LoadOptions {
  defaultNamespace: string;
}
export interface LoadResult {
  resources: Resource[];
  diagnostics: Diagnostic[];
}

export async function loadConfig(paths: readonly string[], opts: LoadOptions): Promise<LoadResult> {
  const out: LoadResult = { resources: [], diagnostics: [] };
  for (const p of paths) {
    const files = statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => /\.(ya?ml|json)$/.test(f))
          .sort()
          .map((f) => join(p, f))
      : [p];
    for (const f of files) {
      const r = loadText(readFileSync(f, 'utf8'), f, opts);
      out.resources.push(...r.resources);
      out.diagnostics.push(...r.diagnostics);
    }
  }
  return out;
}

export function loadText(text: string, file: string, opts: LoadOptions): LoadResult {
  const out: LoadResult = { resources: [], diagnostics: [] };
  const lc = new LineCounter();
  parseAllDocuments(text, { lineCounter: lc }).forEach((doc, docIndex) => {
    const obj = doc.toJS() as Record<string, unknown> | null;
    if (!obj) return;
    const items = obj['kind'] === 'List' ? (obj['items'] as Record<string, unknown>[]) : [obj];
    for (const it of items) {
      const meta = (it['metadata'] ?? {}) as { name: string; namespace?: string };
      if (
        !API_VERSIONS.includes(it['apiVersion'] as (typeof API_VERSIONS)[number]) ||
        !KINDS.includes(it['kind'] as Kind)
      )
        continue;
      out.resources.push({
        apiVersion: it['apiVersion'] as string,
        kind: it['kind'] as Kind,
        metadata: { ...meta, namespace: meta.namespace ?? opts.defaultNamespace },
        spec: it['spec'] as never,
        source: { file, docIndex, line: lc.linePos(doc.range[0]).line },
      });
    }
  });
  return out;
}
