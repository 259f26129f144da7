/**
 * Loading: files and directories → typed Istio resources with provenance, plus diagnostics for
 * everything that could not be loaded. Behaves like `kubectl apply -f` reading the same paths.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Codes, type Diagnostic } from './diagnostics.js';
import { API_VERSIONS, KINDS, resourceKey, type Kind, type Provenance, type Resource } from './resources.js';
import { isRecord } from './schema.js';
import { isKubeKind, kubeKey, KUBE_API_VERSIONS, type KubeKind, type KubeObject } from './kube-resources.js';
import type { RawDocument, SourceSnapshot } from './sources/source.js';
import { parseYaml, YAML_LIMITS } from './yaml-parse.js';
import { fieldPosition, rememberNestedOrigin, rememberOrigin } from './field-positions.js';

/** Options of {@link loadConfig} and {@link loadText}. */
interface LoadOptions {
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
export async function readConfigFiles(
  paths: readonly string[],
  cache?: ParsedFileCache,
): Promise<SourceSnapshot> {
  const reader = new DocumentReader();
  const read = new Map<string, ParsedFile>();
  for (const path of paths) {
    for (const file of await reader.expand(path)) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        reader.unreadable(file, err);
        continue;
      }
      if (!cache) {
        reader.addText(text, file);
        continue;
      }
      let parsed = cache.files.get(file);
      if (parsed?.text !== text) {
        const one = new DocumentReader();
        one.addText(text, file);
        parsed = { text, snapshot: one.result() };
      }
      read.set(file, parsed);
      reader.addParsed(parsed.snapshot);
    }
  }
  if (cache) cache.files = read;
  return reader.result();
}

interface ParsedFile {
  readonly text: string;
  readonly snapshot: SourceSnapshot;
}

/**
 * The decoded documents of the files of the last read, by path, reused while a file's text is
 * unchanged: parsing is most of a load (about 0.5 ms a resource), comparing the text is not. Holds
 * only the files of the last read. The documents are shared between reads, so nothing downstream may
 * mutate them (translation copies what it changes).
 */
export class ParsedFileCache {
  /** Path → text and what it decoded to. */
  files = new Map<string, ParsedFile>();
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

  /** The documents and diagnostics of one file read before (see {@link ParsedFileCache}). */
  addParsed(parsed: SourceSnapshot): void {
    for (const d of parsed.documents) this.documents.push(d);
    for (const d of parsed.diagnostics) this.diagnostics.push(d);
  }

  addText(text: string, file: string): void {
    const parsed = parseYaml(text, YAML_LIMITS, { keepNodes: false });
    if (parsed.problem) {
      const { line, column, message } = parsed.problem;
      this.syntax({ file, docIndex: 0, line }, `${file}:${line}:${column}: cannot read YAML: ${message}`);
      return;
    }
    for (const doc of parsed.documents) {
      const source: Provenance = { file, docIndex: doc.index, line: doc.line };
      if (doc.problem) {
        const { line, column, message } = doc.problem;
        this.syntax({ ...source, line }, `${file}:${line}:${column}: invalid YAML: ${message}`);
        continue;
      }
      if (doc.value === null || doc.value === undefined) continue; // empty document (or only comments)
      const lines = doc.itemLines ?? [];
      rememberOrigin(source, text, [], doc.span);
      this.documents.push({ object: doc.value, source, itemLines: () => lines });
    }
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
      value.items.forEach((item, i) => {
        const itemSource: Provenance = { ...source, line: lines[i] ?? source.line };
        rememberNestedOrigin(itemSource, source, ['items', i]);
        this.addObject(item, itemSource, `${where} items[${i}]`);
      });
      return;
    }
    if (missing.length === 0) {
      const unknown = unknownIstioType(apiVersion as string, kind as string);
      if (unknown) {
        const named = isRecord(metadata) && typeof metadata.name === 'string' && metadata.name !== '';
        this.diagnostics.push({
          severity: 'error',
          code: Codes.SchemaValidationError,
          layer: 'schema',
          ...(named
            ? {
                resource: `${kind as string}/${typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : this.opts.defaultNamespace}/${metadata.name as string}`,
              }
            : {}),
          source: { ...source, ...fieldPosition(source, unknown.path) },
          path: unknown.path,
          message: `${source.file}:${fieldPosition(source, unknown.path)?.line ?? source.line}${where}: ${unknown.message}`,
        });
        return;
      }
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
    // kubectl's default (`--validate=strict`) refuses fields the object does not have; inside `spec`
    // the schema check reports them.
    for (const key of Object.keys(value)) {
      if (TOP_LEVEL_FIELDS.has(key)) continue;
      this.diagnostics.push({
        severity: 'error',
        code: Codes.SchemaValidationError,
        layer: 'schema',
        resource: `${served.kind}/${namespace}/${name as string}`,
        source: { ...source, ...fieldPosition(source, key) },
        path: key,
        message: `${at}: unknown field ${JSON.stringify(key)} (an object has apiVersion, kind, metadata, spec and status)`,
      });
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

const ISTIO_NETWORKING = 'networking.istio.io/';

/** The fields of a Kubernetes object besides which nothing may stand at its top level. */
const TOP_LEVEL_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

/**
 * Every kind Istio defines in `networking.istio.io` (meshgate serves {@link KINDS}; the rest are
 * skipped with a note).
 */
const ISTIO_NETWORKING_KINDS = [...KINDS, 'WorkloadGroup', 'Sidecar', 'EnvoyFilter', 'ProxyConfig'];

/**
 * An apiVersion or kind in `networking.istio.io` that Istio does not define: the API server would
 * refuse it ("no matches for kind"), so it is an error naming what exists, not a skipped document.
 */
function unknownIstioType(apiVersion: string, kind: string): { path: string; message: string } | undefined {
  if (!apiVersion.startsWith(ISTIO_NETWORKING)) return undefined;
  if (!ISTIO_NETWORKING_KINDS.includes(kind)) {
    return {
      path: 'kind',
      message: `kind ${JSON.stringify(kind)} does not exist in networking.istio.io (kinds: ${ISTIO_NETWORKING_KINDS.join(', ')})`,
    };
  }
  if (
    (KINDS as readonly string[]).includes(kind) &&
    !(API_VERSIONS as readonly string[]).includes(apiVersion)
  ) {
    return {
      path: 'apiVersion',
      message: `apiVersion ${JSON.stringify(apiVersion)} is not served for ${kind} (supported: ${API_VERSIONS.join(', ')})`,
    };
  }
  return undefined;
}

/** The kind when meshgate serves it, else the reason it is skipped. */
function servedKind(apiVersion: string, kind: string): { kind: Kind } | string {
  // Unknown versions and kinds of the group were refused before (unknownIstioType).
  if ((KINDS as readonly string[]).includes(kind) && apiVersion.startsWith(ISTIO_NETWORKING)) {
    return { kind: kind as Kind };
  }
  if (apiVersion.startsWith(ISTIO_NETWORKING)) return `${kind} is not served by meshgate`;
  return 'not an Istio networking resource';
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
