/**
 * Per-object admission (`config/admission.ts`): documents a source marks are judged by the one
 * validation of the whole config; a failing one is replaced by its last valid version, or left out,
 * and the rest applies. Unmarked documents (files) block the config as a whole, as before.
 */
import { describe, expect, it } from 'vitest';
import { validateDocuments } from '../../config/pipeline.js';
import { apiProvenance, type RawDocument } from '../../config/sources/source.js';
import { gatewayRoute } from '../helpers/kube-fixtures.js';
import type { KubeObject } from '../helpers/kube-apiserver.js';

function apiDoc(object: KubeObject, rv: string): RawDocument {
  return {
    object,
    source: apiProvenance(object.kind ?? '', object.metadata.namespace, object.metadata.name, rv),
  };
}

/** Marks `doc` for admission alone, with `fallback` as its last valid version. */
function marked(doc: RawDocument, fallback?: RawDocument): RawDocument {
  const o = doc.object as { kind: string; metadata: { name: string; namespace?: string } };
  return {
    ...doc,
    admission: {
      key: `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`,
      resourceVersion: doc.source.file.split('@').pop()!,
      ...(fallback ? { fallback } : {}),
    },
  };
}

const good = apiDoc(gatewayRoute('ratings', { prefix: '/ratings' }, { host: 'reviews' }), '10');
const bad = apiDoc(gatewayRoute('ratings', { regex: '/ratings(' }, { host: 'reviews' }), '11');
const neverValid = apiDoc(gatewayRoute('broken', { prefix: '/broken' }, { subset: 'v1' }), '12');
const other = apiDoc(gatewayRoute('details', { prefix: '/details' }, { host: 'details' }), '13');
const opts = { defaultNamespace: 'default' };

describe('admission of marked documents', () => {
  it('a bad update is replaced by its last valid version; one never valid is left out; the rest applies', () => {
    const v = validateDocuments(
      { documents: [marked(bad, good), marked(neverValid), marked(other)], diagnostics: [] },
      opts,
    );
    expect(v.blocked).toBe(false);
    expect(v.resources.map((r) => `${r.metadata.name}@${r.source.file.split('@').pop()}`).sort()).toEqual([
      'details@13',
      'ratings@10',
    ]);
    // The rejected versions' errors are verdicts, not diagnostics of the config (the source logs them).
    const files = v.diagnostics.map((d) => d.source?.file ?? '');
    expect(files.filter((f) => f.endsWith('@11') || f.endsWith('@12'))).toEqual([]);
    const verdicts = new Map(v.admissions!.map((a) => [`${a.key}@${a.resourceVersion}`, a.errors]));
    expect(verdicts.get('VirtualService/default/details@13')).toBeUndefined();
    expect(verdicts.get('VirtualService/default/ratings@11')!.join('\n')).toMatch(/regex/);
    expect(verdicts.get('VirtualService/default/broken@12')!.join('\n')).toMatch(/IST0106.*host/);
    expect(v.admissions).toHaveLength(3);
  });

  it('unmarked documents (files) still block the whole config', () => {
    const v = validateDocuments({ documents: [bad, other], diagnostics: [] }, opts);
    expect(v.blocked).toBe(true);
    expect(v.admissions).toBeUndefined();
  });
});
