/**
 * Schema validation of Istio networking resources: the OpenAPI schema of Istio's CRDs, as shipped by
 * `@kubernetes-models/istio`, applied the way the API server applies it before Istio's webhook runs.
 *
 * The package carries the CRD schemas of Istio 1.18. Fields and enum values added since then (e.g.
 * `mirrors`, `uriRegexRewrite`, `OPTIONAL_MUTUAL`, `DYNAMIC_DNS`) are declared in {@link NEWER_FIELDS}
 * so that current configurations are neither rejected nor warned about.
 *
 * Also home of the field-path helpers every config check uses (`spec.http[0].match[1].uri.regex`).
 */
import { DestinationRule as DestinationRuleV1alpha3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/DestinationRule';
import { Gateway as GatewayV1alpha3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/Gateway';
import { ServiceEntry as ServiceEntryV1alpha3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/ServiceEntry';
import { VirtualService as VirtualServiceV1alpha3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/VirtualService';
import { WorkloadEntry as WorkloadEntryV1alpha3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3/WorkloadEntry';
import { DestinationRule as DestinationRuleV1beta1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule';
import { Gateway as GatewayV1beta1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/Gateway';
import { ServiceEntry as ServiceEntryV1beta1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/ServiceEntry';
import { VirtualService as VirtualServiceV1beta1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService';
import { WorkloadEntry as WorkloadEntryV1beta1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1/WorkloadEntry';
import { Codes, type Diagnostic } from './diagnostics.js';
import { resourceKey, type Kind, type Resource } from './resources.js';

// ---------------------------------------------------------------------------------------------------
// Field paths

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Appends one step to a field path: an array index as `[3]`, an identifier as `.name`, any other map
 * key (header names, labels) as `["x-user"]`. `fieldPath('', 'spec')` is `spec`.
 */
export function fieldPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (IDENTIFIER.test(key)) return base === '' ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

/**
 * Converts a JSON pointer (`/spec/servers/0/hosts`) into a field path (`spec.servers[0].hosts`),
 * looking at `root` to tell array indexes from map keys that happen to be digits.
 */
export function pointerToPath(pointer: string, root: unknown): string {
  if (pointer === '') return '';
  let path = '';
  let node: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^\d+$/.test(seg)) {
      path = fieldPath(path, Number(seg));
      node = node[Number(seg)];
    } else {
      path = fieldPath(path, seg);
      node = isRecord(node) ? node[seg] : undefined;
    }
  }
  return path;
}

// ---------------------------------------------------------------------------------------------------
// Schema nodes

/** The subset of an OpenAPI schema node that meshgate reads. */
interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  enum?: unknown[];
  /** Set on nodes meshgate added (fields newer than the packaged schema): their types are checked here. */
  added?: boolean;
}

/** What the models package throws: ajv's `ValidationError` with ajv error objects. */
interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  schema?: unknown;
  parentSchema?: unknown;
  data?: unknown;
}

interface SchemaModel {
  validate(): void;
}
type ModelClass = new (data: { metadata: unknown; spec: unknown }) => SchemaModel;

/** `v1` has the same schema as `v1beta1` (Istio serves identical schemas for all three versions). */
const MODELS: Record<string, Record<Kind, ModelClass>> = {
  'networking.istio.io/v1alpha3': {
    Gateway: GatewayV1alpha3 as unknown as ModelClass,
    VirtualService: VirtualServiceV1alpha3 as unknown as ModelClass,
    DestinationRule: DestinationRuleV1alpha3 as unknown as ModelClass,
    ServiceEntry: ServiceEntryV1alpha3 as unknown as ModelClass,
    WorkloadEntry: WorkloadEntryV1alpha3 as unknown as ModelClass,
  },
  'networking.istio.io/v1beta1': {
    Gateway: GatewayV1beta1 as unknown as ModelClass,
    VirtualService: VirtualServiceV1beta1 as unknown as ModelClass,
    DestinationRule: DestinationRuleV1beta1 as unknown as ModelClass,
    ServiceEntry: ServiceEntryV1beta1 as unknown as ModelClass,
    WorkloadEntry: WorkloadEntryV1beta1 as unknown as ModelClass,
  },
};

function modelFor(kind: Kind, apiVersion: string): ModelClass | undefined {
  const version = apiVersion === 'networking.istio.io/v1' ? 'networking.istio.io/v1beta1' : apiVersion;
  return MODELS[version]?.[kind];
}

// ---------------------------------------------------------------------------------------------------
// Fields newer than the packaged (Istio 1.18) schema

const str: SchemaNode = { type: 'string' };
const int: SchemaNode = { type: 'integer' };
const num: SchemaNode = { type: 'number' };
const bool: SchemaNode = { type: 'boolean' };
const obj = (properties: Record<string, SchemaNode>): SchemaNode => ({ type: 'object', properties });
const arr = (items: SchemaNode): SchemaNode => ({ type: 'array', items });

const DESTINATION = obj({ host: str, subset: str, port: obj({ number: int }) });

const TRAFFIC_POLICY_ADDITIONS = obj({
  loadBalancer: obj({
    warmup: obj({ duration: str, minimumPercent: num, aggression: num }),
    consistentHash: obj({ httpCookie: obj({ attributes: arr(obj({ name: str, value: str })) }) }),
  }),
  connectionPool: obj({
    tcp: obj({ idleTimeout: str }),
    http: obj({ maxConcurrentStreams: int, http2KeepAlive: obj({ interval: str, timeout: str }) }),
  }),
  outlierDetection: obj({ outlierDetectionHttpErrorCodes: arr(int) }),
  tls: obj({ caCrl: str }),
  proxyProtocol: obj({ version: str }),
});

/**
 * Additions to the packaged schema, per kind: `at` is a schema path (`[]` steps into array items),
 * `add` is merged there (new properties marked {@link SchemaNode.added}, enum values appended).
 * Sources: Istio's current API reference (see reference/istio-semantics.md §1.3, §2, §3, §4).
 */
const NEWER_FIELDS: Record<Kind, { at: string; add: SchemaNode }[]> = {
  Gateway: [
    {
      at: 'servers[].tls',
      add: obj({
        mode: { enum: ['OPTIONAL_MUTUAL'] },
        caCrl: str,
        credentialNames: arr(str),
        tlsCertificates: arr(obj({ serverCertificate: str, privateKey: str, caCertificates: str })),
        ecdhCurves: arr(str),
      }),
    },
  ],
  VirtualService: [
    {
      at: 'http[]',
      add: obj({ mirrors: arr(obj({ destination: DESTINATION, percentage: obj({ value: num }) })) }),
    },
    { at: 'http[].rewrite', add: obj({ uriRegexRewrite: obj({ match: str, rewrite: str }) }) },
    { at: 'http[].retries', add: obj({ retryIgnorePreviousHosts: bool, backoff: str }) },
    { at: 'http[].redirect', add: obj({ prefixRewrite: str }) },
    {
      at: 'http[].corsPolicy',
      add: obj({ unmatchedPreflights: { type: 'string', enum: ['FORWARD', 'IGNORE'] } }),
    },
  ],
  DestinationRule: [
    { at: 'trafficPolicy', add: TRAFFIC_POLICY_ADDITIONS },
    { at: 'trafficPolicy.portLevelSettings[]', add: TRAFFIC_POLICY_ADDITIONS },
    { at: 'subsets[].trafficPolicy', add: TRAFFIC_POLICY_ADDITIONS },
    { at: 'subsets[].trafficPolicy.portLevelSettings[]', add: TRAFFIC_POLICY_ADDITIONS },
  ],
  ServiceEntry: [{ at: 'resolution', add: { enum: ['DYNAMIC_DNS'] } }],
  WorkloadEntry: [],
};

function mergeInto(target: SchemaNode, add: SchemaNode): void {
  if (add.enum && target.enum)
    target.enum = [...target.enum, ...add.enum.filter((v) => !target.enum!.includes(v))];
  for (const [name, child] of Object.entries(add.properties ?? {})) {
    target.properties ??= {};
    const existing = target.properties[name];
    if (existing) mergeInto(existing, child);
    else target.properties[name] = markAdded(structuredClone(child));
  }
}

function markAdded(node: SchemaNode): SchemaNode {
  node.added = true;
  for (const child of Object.values(node.properties ?? {})) markAdded(child);
  if (node.items) markAdded(node.items);
  return node;
}

function schemaAt(root: SchemaNode, at: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const step of at.split('.')) {
    const isArray = step.endsWith('[]');
    node = node?.properties?.[isArray ? step.slice(0, -2) : step];
    if (isArray) node = node?.items;
  }
  return node;
}

const specSchemas = new Map<ModelClass, SchemaNode | null>();

/**
 * The `spec` schema of a model, patched with {@link NEWER_FIELDS}. The package keeps its schemas
 * private, so it is read back from a validation failure: with ajv's `verbose` option every error
 * carries its `parentSchema`, and `spec: 0` fails at the `spec` node itself.
 */
function specSchema(kind: Kind, model: ModelClass): SchemaNode | undefined {
  const cached = specSchemas.get(model);
  if (cached !== undefined) return cached ?? undefined;
  let found: SchemaNode | null = null;
  try {
    new model({ metadata: { name: 'probe' }, spec: 0 }).validate();
  } catch (err) {
    const parent = ajvErrors(err)?.find((e) => e.instancePath === '/spec')?.parentSchema;
    if (isRecord(parent)) {
      // ajv holds these objects: patch a copy, never the original.
      found = structuredClone(parent) as SchemaNode;
      for (const { at, add } of NEWER_FIELDS[kind]) {
        const node = schemaAt(found, at);
        if (node) mergeInto(node, add);
      }
    }
  }
  specSchemas.set(model, found);
  return found ?? undefined;
}

// ---------------------------------------------------------------------------------------------------
// Validation

/**
 * Validates one resource against its kind's CRD schema.
 *
 * - every schema violation → `IST0106` error (layer `schema`), e.g. `spec.servers[0].hosts: must be
 *   array (got string)`; enum errors list the allowed values;
 * - every field under `spec` the schema does not know → `IST0133` warning `unknown field "foo"` (the
 *   API server prunes such fields silently, which hides typos such as `subsets.label`);
 * - fields newer than the packaged schema are type-checked here.
 *
 * Never throws: a resource that cannot be validated at all yields one `IST0106` error saying why.
 */
export function validateSchema(r: Resource): Diagnostic[] {
  const out: Diagnostic[] = [];
  const report = (severity: 'error' | 'warning', path: string, message: string): void => {
    out.push({
      severity,
      code: severity === 'error' ? Codes.SchemaValidationError : Codes.SchemaWarning,
      layer: 'schema',
      resource: resourceKey(r),
      source: r.source,
      path,
      message,
    });
  };
  const model = modelFor(r.kind, r.apiVersion);
  if (!model) {
    report('error', 'apiVersion', `no schema for ${r.kind} in ${JSON.stringify(r.apiVersion)}`);
    return out;
  }
  const schema = specSchema(r.kind, model);
  const root = { metadata: r.metadata, spec: r.spec };
  try {
    new model(root).validate();
  } catch (err) {
    const errors = ajvErrors(err);
    if (!errors) {
      report('error', 'spec', `could not be validated: ${err instanceof Error ? err.message : String(err)}`);
      return out;
    }
    for (const e of relevantErrors(errors)) {
      if (e.keyword === 'enum' && schema && allowedByNewerSchema(schema, e, root)) continue;
      const { path, message } = describe(e, root);
      report('error', path, message);
    }
  }
  if (schema) checkFields(r.spec, schema, 'spec', report);
  return out;
}

function ajvErrors(err: unknown): AjvError[] | undefined {
  if (!isRecord(err) || !Array.isArray(err.errors)) return undefined;
  return err.errors.filter(
    (e): e is AjvError =>
      isRecord(e) &&
      typeof e.instancePath === 'string' &&
      typeof e.keyword === 'string' &&
      isRecord(e.params),
  );
}

/**
 * Drops ajv's noise: errors inside the branches of a `oneOf` (the `oneOf` error itself says what is
 * wrong) and `format: int32` errors on values that already fail `type: integer`.
 */
function relevantErrors(errors: AjvError[]): AjvError[] {
  const typeFailed = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  return errors.filter((e) => {
    if (/\/(oneOf|anyOf|allOf)\/\d+(\/|$)|\/not(\/|$)/.test(e.schemaPath)) return false;
    if (e.keyword === 'format' && typeFailed.has(e.instancePath)) return false;
    return true;
  });
}

/** True when an enum value rejected by the 1.18 schema is valid in current Istio (`OPTIONAL_MUTUAL`...). */
function allowedByNewerSchema(schema: SchemaNode, e: AjvError, root: unknown): boolean {
  if (!e.instancePath.startsWith('/spec/')) return false;
  let node: SchemaNode | undefined = schema;
  let data: unknown = isRecord(root) ? root.spec : undefined;
  for (const seg of e.instancePath.slice('/spec/'.length).split('/')) {
    if (Array.isArray(data)) {
      node = node?.items;
      data = data[Number(seg)];
    } else {
      const ap: SchemaNode | boolean | undefined = node?.additionalProperties;
      node = node?.properties?.[seg] ?? (typeof ap === 'object' ? ap : undefined);
      data = isRecord(data) ? data[seg] : undefined;
    }
  }
  return node?.enum?.includes(data) ?? false;
}

function describe(e: AjvError, root: unknown): { path: string; message: string } {
  const path = pointerToPath(e.instancePath, root);
  const p = e.params;
  switch (e.keyword) {
    case 'type':
      return { path, message: `must be ${String(p.type)} (got ${jsonType(e.data)})` };
    case 'enum': {
      const allowed = Array.isArray(p.allowedValues) ? p.allowedValues.map(String).join(', ') : '';
      return { path, message: `must be one of ${allowed} (got ${JSON.stringify(e.data)})` };
    }
    case 'required':
      return { path: fieldPath(path, String(p.missingProperty)), message: 'is required' };
    case 'format':
      return {
        path,
        message: p.format === 'int32' ? 'must be a 32-bit integer' : `must be a valid ${String(p.format)}`,
      };
    case 'oneOf': {
      const names = Array.isArray(e.schema) ? e.schema.flatMap(branchFields) : [];
      const present = isRecord(e.data) ? names.filter((n) => isRecord(e.data) && e.data[n] != null) : [];
      if (names.length > 0 && present.length > 1) {
        return { path, message: `only one of ${names.join(', ')} may be set (found ${present.join(', ')})` };
      }
      return { path, message: e.message ?? 'is invalid' };
    }
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

/** Field names a `oneOf` branch requires (`{required: [x]}` or `{properties: {x: ...}}`). */
function branchFields(branch: unknown): string[] {
  if (!isRecord(branch)) return [];
  if (Array.isArray(branch.required)) return branch.required.map(String);
  if (isRecord(branch.properties)) return Object.keys(branch.properties);
  return [];
}

/**
 * Walks `data` alongside `node`: unknown object keys become warnings; values under fields meshgate
 * added to the schema are type-checked (ajv never saw those fields).
 */
function checkFields(
  data: unknown,
  node: SchemaNode,
  path: string,
  report: (severity: 'error' | 'warning', path: string, message: string) => void,
): void {
  if (data === null || data === undefined) return;
  if (node.added && node.type && !matchesType(data, node.type)) {
    report('error', path, `must be ${node.type} (got ${jsonType(data)})`);
    return;
  }
  if (node.added && node.enum && !node.enum.includes(data)) {
    report('error', path, `must be one of ${node.enum.map(String).join(', ')} (got ${JSON.stringify(data)})`);
    return;
  }
  if (Array.isArray(data)) {
    if (node.items) data.forEach((item, i) => checkFields(item, node.items!, fieldPath(path, i), report));
    return;
  }
  if (!isRecord(data)) return;
  const ap = typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
  const props = node.properties ?? {};
  // A node without declared properties (and no value schema) is free-form: nothing to check.
  const closed = Object.keys(props).length > 0 && node.additionalProperties === undefined;
  for (const [key, value] of Object.entries(data)) {
    const child = props[key] ?? ap;
    if (child) checkFields(value, child, fieldPath(path, key), report);
    else if (closed) report('warning', fieldPath(path, key), `unknown field ${JSON.stringify(key)}`);
  }
}

function matchesType(data: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof data === 'string';
    case 'integer':
      return typeof data === 'number' && Number.isInteger(data);
    case 'number':
      return typeof data === 'number' && Number.isFinite(data);
    case 'boolean':
      return typeof data === 'boolean';
    case 'array':
      return Array.isArray(data);
    case 'object':
      return isRecord(data);
    default:
      return true;
  }
}

function jsonType(data: unknown): string {
  if (data === null) return 'null';
  if (Array.isArray(data)) return 'array';
  if (typeof data === 'number') return Number.isInteger(data) ? 'integer' : 'number';
  return typeof data;
}

/** True for plain JSON objects (not arrays, not null). */
export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
