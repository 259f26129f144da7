/**
 * Loading: files and directories → typed Istio resources with provenance, plus diagnostics for
 * everything that could not be loaded. Behaves like `kubectl apply -f` reading the same paths.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isNode, isSeq, LineCounter, parseAllDocuments, type Document, type Tags } from 'yaml';
import { Codes, type Diagnostic } from './diagnostics.js';
import { API_VERSIONS, KINDS, resourceKey, type Kind, type Provenance, type Resource } from './resources.js';
import { isRecord } from './schema.js';
import { isKubeKind, kubeKey, KUBE_API_VERSIONS, type KubeKind, type KubeObject } from './kube-resources.js';
import type { RawDocument, SourceSnapshot } from './sources/source.js';

/** Options of {@link loadConfig} and {@link loadText}. */
export interface LoadOptions {
  /** Namespace of resources without `metadata.namespace` (kubectl's `-n`, default `default`). */
  defaultNamespace: string;
}

/** What a load produced: the resources to serve and every problem found while reading them. */
export interface LoadResult {
  /** Istio networking resources in file order, then document order ("creation order"). */
  resources: Resource[];
  /** Kubernetes core objects (Service, EndpointSlice, Endpoints, Pod, Secret, Namespace), same order. */
  objects: KubeObject[];
  /**
   * `MG0001` (syntax, not an object), `MG0002` (skipped kind), `MG0003` (duplicate), `MG0004`
   * (unreadable), `MG0020` (core kind in an apiVersion not served).
   */
  diagnostics: Diagnostic[];
}

/** File names a directory contributes, as `kubectl apply -f dir` reads them (extension case-sensitive). */
const CONFIG_FILE = /\.(ya?ml|json)$/;

/**
 * Loads like `kubectl apply -f`: each path a file or a directory (its *.yaml, *.yml, *.json files,
 * sorted, not recursive); multi-document YAML (`---`); `kind: List` (items).
 *
 * YAML is read with YAML 1.1 scalars, as kubectl's parser does (`yes`/`on` are booleans, `0755` is
 * octal), except that timestamps and sexagesimal numbers stay strings, as they do for kubectl.
 * Resources of the five served kinds with a served apiVersion are returned; see {@link LoadResult}
 * for the diagnostics. Never rejects: unreadable paths become `MG0004` errors.
 */
export async function loadConfig(paths: readonly string[], opts: LoadOptions): Promise<LoadResult> {
  return translateDocuments(await readConfigFiles(paths), opts);
}

/**
 * Same as {@link loadConfig}, from in-memory text (tests, reload); `file` is the name used in
 * diagnostics. Never throws.
 */
export function loadText(text: string, file: string, opts: LoadOptions): LoadResult {
  return translateDocuments(parseConfigText(text, file), opts);
}

/**
 * The reading half of {@link loadConfig}: files and directories → decoded documents with
 * provenance, plus `MG0001`/`MG0004` diagnostics. What the `files` source delivers. Never rejects.
 */
export async function readConfigFiles(paths: readonly string[]): Promise<SourceSnapshot> {
  const reader = new DocumentReader();
  for (const path of paths) {
    for (const file of await reader.expand(path)) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        reader.unreadable(file, err);
        continue;
      }
      reader.addText(text, file);
    }
  }
  return reader.result();
}

/** The reading half of {@link loadText}. Never throws. */
export function parseConfigText(text: string, file: string): SourceSnapshot {
  const reader = new DocumentReader();
  reader.addText(text, file);
  return reader.result();
}

/**
 * The translating half, shared by every source: decoded documents → typed resources. Checks each
 * is a Kubernetes object, unpacks Lists, keeps the served kinds (Istio networking and the
 * Kubernetes core kinds of `kube-objects.ts`), reports the rest and replaces duplicates. The
 * source's own diagnostics come first. Never throws.
 */
export function translateDocuments(input: SourceSnapshot, opts: LoadOptions): LoadResult {
  const translator = new Translator(opts, [...input.diagnostics]);
  for (const doc of input.documents) translator.addObject(doc.object, doc.source, '', doc.itemLines);
  return translator.result();
}

/** YAML 1.1 tags minus those kubectl's parser does not apply to plain scalars. */
function kubectlTags(tags: Tags): Tags {
  return tags.filter(
    (t) => typeof t === 'string' || (t.tag !== 'tag:yaml.org,2002:timestamp' && t.format !== 'TIME'),
  );
}

/** Accumulates decoded documents and reading problems over all files of one read. */
class DocumentReader {
  private readonly documents: RawDocument[] = [];
  private readonly diagnostics: Diagnostic[] = [];

  result(): SourceSnapshot {
    return { documents: this.documents, diagnostics: this.diagnostics };
  }

  /** The files a command-line path stands for; an unreadable path is reported and yields none. */
  async expand(path: string): Promise<string[]> {
    try {
      if (!(await stat(path)).isDirectory()) return [path];
      const names = (await readdir(path)).filter((n) => CONFIG_FILE.test(n)).sort();
      const files: string[] = [];
      for (const name of names) {
        const file = join(path, name);
        // A directory named `x.yaml` is not a config file; kubectl does not descend either.
        if (
          !(await stat(file).then(
            (s) => s.isDirectory(),
            () => false,
          ))
        )
          files.push(file);
      }
      return files;
    } catch (err) {
      this.unreadable(path, err);
      return [];
    }
  }

  unreadable(path: string, err: unknown): void {
    this.diagnostics.push({
      severity: 'error',
      code: Codes.FileUnreadable,
      layer: 'schema',
      source: { file: path, docIndex: 0, line: 1 },
      message: `cannot read ${JSON.stringify(path)}: ${ioReason(err)}`,
    });
  }

  addText(text: string, file: string): void {
    const lineCounter = new LineCounter();
    let docs: Document.Parsed[];
    try {
      docs = parseAllDocuments(text, {
        lineCounter,
        version: '1.1',
        customTags: kubectlTags,
        prettyErrors: true,
      });
    } catch (err) {
      // The parser reports problems per document; this only guards against the unexpected.
      this.syntax({ file, docIndex: 0, line: 1 }, `${file}: cannot parse YAML: ${errorText(err)}`);
      return;
    }
    const lineOf = (offset: number | undefined): number =>
      offset === undefined ? 1 : lineCounter.linePos(offset).line;
    docs.forEach((doc, docIndex) => {
      const docLine = lineOf(doc.contents?.range[0] ?? doc.range[0]);
      const error = doc.errors[0];
      if (error) {
        const [line, col] = error.linePos ? [error.linePos[0].line, error.linePos[0].col] : [docLine, 1];
        const reason = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        this.syntax({ file, docIndex, line }, `${file}:${line}:${col}: invalid YAML: ${reason}`);
        return;
      }
      let value: unknown;
      try {
        value = doc.toJS({ maxAliasCount: 100 });
      } catch (err) {
        this.syntax({ file, docIndex, line: docLine }, `${file}:${docLine}: invalid YAML: ${errorText(err)}`);
        return;
      }
      if (value === null || value === undefined) return; // empty document (or only comments)
      if (isCyclic(value)) {
        this.syntax(
          { file, docIndex, line: docLine },
          `${file}:${docLine}: a YAML alias refers to its own ancestor`,
        );
        return;
      }
      const itemLines = (): number[] => {
        const items = isMap(doc.contents) ? doc.contents.get('items', true) : undefined;
        return isSeq(items) ? items.items.map((n) => lineOf(isNode(n) ? n.range?.[0] : undefined)) : [];
      };
      this.documents.push({ object: value, source: { file, docIndex, line: docLine }, itemLines });
    });
  }

  private syntax(source: Provenance, message: string): void {
    this.diagnostics.push({ severity: 'error', code: Codes.YamlSyntax, layer: 'schema', source, message });
  }
}

/** Accumulates resources and diagnostics over all documents of one load, so duplicates span files. */
class Translator {
  private readonly resources: Resource[] = [];
  private readonly objects: KubeObject[] = [];
  private readonly seen = new Map<string, Provenance>();

  constructor(
    private readonly opts: LoadOptions,
    private readonly diagnostics: Diagnostic[],
  ) {}

  result(): LoadResult {
    return { resources: this.resources, objects: this.objects, diagnostics: this.diagnostics };
  }

  /**
   * One decoded document (or List item): checks it is a Kubernetes object, unpacks Lists, keeps the
   * served kinds and reports the rest.
   */
  addObject(value: unknown, source: Provenance, where: string, itemLines?: () => readonly number[]): void {
    const at = `${source.file}:${source.line}${where}`;
    if (!isRecord(value)) {
      this.syntax(
        source,
        `${at}: not a Kubernetes object (expected a mapping with apiVersion, kind and metadata)`,
      );
      return;
    }
    const { apiVersion, kind, metadata } = value;
    const missing = [
      ...(typeof apiVersion === 'string' && apiVersion !== '' ? [] : ['apiVersion']),
      ...(typeof kind === 'string' && kind !== '' ? [] : ['kind']),
    ];
    if (missing.length === 0 && (kind as string).endsWith('List') && Array.isArray(value.items)) {
      const lines = itemLines?.() ?? [];
      value.items.forEach((item, i) =>
        this.addObject(item, { ...source, line: lines[i] ?? source.line }, `${where} items[${i}]`),
      );
      return;
    }
    const name = isRecord(metadata) ? metadata.name : undefined;
    if (typeof name !== 'string' || name === '') missing.push('metadata.name');
    if (missing.length > 0) {
      this.syntax(source, `${at}: not a Kubernetes object: missing ${missing.join(', ')}`);
      return;
    }
    const meta = metadata as Record<string, unknown>;
    if (meta.namespace !== undefined && meta.namespace !== null && typeof meta.namespace !== 'string') {
      this.syntax(source, `${at}: metadata.namespace must be a string`);
      return;
    }
    const namespace =
      typeof meta.namespace === 'string' && meta.namespace !== ''
        ? meta.namespace
        : this.opts.defaultNamespace;
    if (isKubeKind(kind as string)) {
      this.addKubeObject(value, meta, namespace, source);
      return;
    }
    const key = `${kind as string}/${namespace}/${name as string}`;
    const served = servedKind(apiVersion as string, kind as string);
    if (typeof served === 'string') {
      this.diagnostics.push({
        severity: 'info',
        code: Codes.SkippedKind,
        layer: 'schema',
        resource: key,
        source,
        message: `skipped ${key}: ${served}`,
      });
      return;
    }
    const resource: Resource = {
      apiVersion: apiVersion as string,
      kind: served.kind,
      metadata: { ...meta, name: name as string, namespace } as Resource['metadata'],
      // Not checked here: schema validation reports a spec of the wrong shape, field by field.
      spec: (value.spec ?? {}) as Resource['spec'],
      source,
    };
    this.keep(key, source, this.resources, resource, resourceKey);
  }

  /** A Kubernetes core object: kept whole (its fields are read defensively), or reported. */
  private addKubeObject(
    value: Record<string, unknown>,
    meta: Record<string, unknown>,
    namespace: string,
    source: Provenance,
  ): void {
    const kind = value.kind as KubeKind;
    const object = {
      ...value,
      metadata: { ...meta, namespace: kind === 'Namespace' ? '' : namespace },
      source,
    } as KubeObject;
    const key = kubeKey(object);
    const served = KUBE_API_VERSIONS[kind];
    if (value.apiVersion !== served) {
      this.diagnostics.push({
        severity: 'warning',
        code: Codes.KubeApiVersionNotServed,
        layer: 'reference',
        resource: key,
        source,
        message: `skipped ${key}: apiVersion ${JSON.stringify(value.apiVersion)} is not served for ${kind} (use ${served})`,
      });
      return;
    }
    this.keep(key, source, this.objects, object, kubeKey);
  }

  /**
   * Adds `item` under `key`. Like `kubectl apply -f a -f b`, a later definition replaces the
   * earlier one (in place, so "creation order" stays that of the first definition), with a warning.
   */
  private keep<T>(key: string, source: Provenance, list: T[], item: T, keyOf: (x: T) => string): void {
    const first = this.seen.get(key);
    this.seen.set(key, source);
    if (!first) {
      list.push(item);
      return;
    }
    this.diagnostics.push({
      severity: 'warning',
      code: Codes.DuplicateResource,
      layer: 'reference',
      resource: key,
      source,
      message: `${key} is defined again in ${source.file}: this definition replaces the one in ${first.file} (document ${first.docIndex}, line ${first.line}), as kubectl apply would`,
    });
    const i = list.findIndex((x) => keyOf(x) === key);
    if (i >= 0) list[i] = item;
  }

  private syntax(source: Provenance, message: string): void {
    this.diagnostics.push({ severity: 'error', code: Codes.YamlSyntax, layer: 'schema', source, message });
  }
}

/** The kind when meshgate serves it, else the reason it is skipped. */
function servedKind(apiVersion: string, kind: string): { kind: Kind } | string {
  const isIstioKind = (KINDS as readonly string[]).includes(kind);
  if (isIstioKind && (API_VERSIONS as readonly string[]).includes(apiVersion)) return { kind: kind as Kind };
  if (isIstioKind && apiVersion.startsWith('networking.istio.io/')) {
    return `apiVersion ${apiVersion} is not served (use ${API_VERSIONS.join(', ')})`;
  }
  if (apiVersion.startsWith('networking.istio.io/')) return `${kind} is not served by meshgate`;
  return 'not an Istio networking resource';
}

/** True when a decoded value contains itself (possible with YAML anchors and aliases). */
function isCyclic(value: unknown, ancestors = new Set<object>()): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (ancestors.has(value)) return true;
  ancestors.add(value);
  const children = Array.isArray(value) ? value : Object.values(value);
  const cyclic = children.some((c) => isCyclic(c, ancestors));
  ancestors.delete(value);
  return cyclic;
}

function ioReason(err: unknown): string {
  const code = isRecord(err) ? err.code : undefined;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return errorText(err);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}
