/**
 * Schema validation of Istio networking resources: the OpenAPI schema of Istio's CRDs, as shipped by
 * `@kubernetes-models/istio` 3.x (the CRDs of Istio 1.29), applied the way the API server applies it
 * before Istio's webhook runs. Field rules the schema cannot express live in `validate.ts`.
 *
 * Also home of the field-path helpers every config check uses (`spec.http[0].match[1].uri.regex`).
 */
import { DestinationRule as DestinationRuleV1 } from '@kubernetes-models/istio/networking.istio.io/v1/DestinationRule';
import { Gateway as GatewayV1 } from '@kubernetes-models/istio/networking.istio.io/v1/Gateway';
import { ServiceEntry as ServiceEntryV1 } from '@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry';
import { VirtualService as VirtualServiceV1 } from '@kubernetes-models/istio/networking.istio.io/v1/VirtualService';
import { WorkloadEntry as WorkloadEntryV1 } from '@kubernetes-models/istio/networking.istio.io/v1/WorkloadEntry';
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
function pointerToPath(pointer: string, root: unknown): string {
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
// Models

/** What the models package throws: ajv's `ValidationError` with (standalone-compiled) ajv errors. */
interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

interface SchemaModel {
  validate(): void;
}
type ModelClass = new (data: { metadata: unknown; spec: unknown }) => SchemaModel;

/** The five served kinds' models of one apiVersion (the package's classes, typed for this module). */
function modelsOf(...classes: [unknown, unknown, unknown, unknown, unknown]): Record<Kind, ModelClass> {
  const [Gateway, VirtualService, DestinationRule, ServiceEntry, WorkloadEntry] = classes as ModelClass[];
  return {
    Gateway: Gateway!,
    VirtualService: VirtualService!,
    DestinationRule: DestinationRule!,
    ServiceEntry: ServiceEntry!,
    WorkloadEntry: WorkloadEntry!,
  };
}

const MODELS: Record<string, Record<Kind, ModelClass>> = {
  'networking.istio.io/v1alpha3': modelsOf(
    GatewayV1alpha3,
    VirtualServiceV1alpha3,
    DestinationRuleV1alpha3,
    ServiceEntryV1alpha3,
    WorkloadEntryV1alpha3,
  ),
  'networking.istio.io/v1beta1': modelsOf(
    GatewayV1beta1,
    VirtualServiceV1beta1,
    DestinationRuleV1beta1,
    ServiceEntryV1beta1,
    WorkloadEntryV1beta1,
  ),
  'networking.istio.io/v1': modelsOf(
    GatewayV1,
    VirtualServiceV1,
    DestinationRuleV1,
    ServiceEntryV1,
    WorkloadEntryV1,
  ),
};

/** Runs a model's validator; the ajv errors it reports (none when valid). @throws what is not an ajv error. */
function schemaErrors(model: ModelClass, root: { metadata: unknown; spec: unknown }): AjvError[] {
  try {
    new model(root).validate();
    return [];
  } catch (err) {
    const errors = ajvErrors(err);
    if (!errors) throw err;
    return errors;
  }
}

// ---------------------------------------------------------------------------------------------------
// Validation

/**
 * Validates one resource against its kind's CRD schema.
 *
 * - every schema violation → `IST0106` error (layer `schema`), e.g. `spec.servers[0].hosts: must be
 *   array (got string)`; enum errors list the allowed values;
 * - every field under `spec` the schema does not know → `IST0133` warning `unknown field "foo"` (the
 *   API server prunes such fields silently, which hides typos such as `subsets.label`).
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
  const model = MODELS[r.apiVersion]?.[r.kind];
  if (!model) {
    report('error', 'apiVersion', `no schema for ${r.kind} in ${JSON.stringify(r.apiVersion)}`);
    return out;
  }
  const root = { metadata: r.metadata, spec: r.spec };
  try {
    for (const e of relevantErrors(schemaErrors(model, root))) {
      const { path, message } = describe(e, root);
      report('error', path, message);
    }
    for (const path of unknownFields(model, root)) {
      report('warning', path, `unknown field ${JSON.stringify(path.slice(path.lastIndexOf('.') + 1))}`);
    }
  } catch (err) {
    report('error', 'spec', `could not be validated: ${err instanceof Error ? err.message : String(err)}`);
  }
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
 * Drops the compiled validator's noise: at a node that fails a `oneOf`, the `not` and `required`
 * errors of its branches (the `oneOf` error says what is wrong); `format: int32` errors on values that
 * already fail `type: integer`.
 */
function relevantErrors(errors: AjvError[]): AjvError[] {
  const typeFailed = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const oneOfFailed = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  return errors.filter((e) => {
    if (oneOfFailed.has(e.instancePath) && (e.keyword === 'not' || e.keyword === 'required')) return false;
    if (e.keyword === 'format' && typeFailed.has(e.instancePath)) return false;
    return true;
  });
}

/** The proto `oneof` groups of the served kinds, to name the culprits of a `oneOf` failure. */
const ONE_OF_GROUPS: readonly (readonly string[])[] = [
  ['exact', 'prefix', 'regex'],
  ['simple', 'consistentHash'],
  ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
  ['ringHash', 'maglev'],
  ['httpStatus', 'grpcStatus', 'http2Error'],
  ['fixedDelay', 'exponentialDelay'],
  ['uri', 'uriRegex'],
  ['port', 'derivePort'],
  ['string', 'bytes'],
];

function describe(e: AjvError, root: unknown): { path: string; message: string } {
  const path = pointerToPath(e.instancePath, root);
  const data = valueAt(e.instancePath, root);
  const p = e.params;
  switch (e.keyword) {
    case 'type':
      return { path, message: `must be ${String(p.type)} (got ${jsonType(data)})` };
    case 'enum': {
      const allowed = Array.isArray(p.allowedValues) ? p.allowedValues.map(String).join(', ') : '';
      return { path, message: `must be one of ${allowed} (got ${JSON.stringify(data)})` };
    }
    case 'required':
      return { path: fieldPath(path, String(p.missingProperty)), message: 'is required' };
    case 'format':
      return {
        path,
        message: p.format === 'int32' ? 'must be a 32-bit integer' : `must be a valid ${String(p.format)}`,
      };
    case 'oneOf': {
      const set = isRecord(data)
        ? Object.keys(data).filter((k) => data[k] !== null && data[k] !== undefined)
        : [];
      const group = ONE_OF_GROUPS.find((g) => g.filter((n) => set.includes(n)).length > 1);
      if (group) {
        const found = group.filter((n) => set.includes(n));
        return { path, message: `only one of ${group.join(', ')} may be set (found ${found.join(', ')})` };
      }
      return { path, message: e.message ?? 'is invalid' };
    }
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

function valueAt(pointer: string, root: unknown): unknown {
  let node = root;
  if (pointer === '') return node;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = Array.isArray(node) ? node[Number(seg)] : isRecord(node) ? node[seg] : undefined;
  }
  return node;
}

/** A value no schema type accepts: the validator reports it at any field it knows, and nowhere else. */
const PROBE = Symbol('unknown-field probe');
/** A key no schema declares: drawing an error at it shows that a node is a map (`labels`, `headers`). */
const SENTINEL = '\u0000probe';

/** What the schema says about the object nodes at one field path (array indexes as `[]`). */
interface NodeFields {
  /** A map (`additionalProperties`): every key is known. */
  map: boolean;
  /**
   * Keys the schema declares. Only what a probe proved is kept (an error at the key); a key that
   * drew none is unknown for this resource only, so no resource's oddities can mislead another's.
   */
  readonly known: Set<string>;
}

/** Per model, per field path: learnt once, so that configs of one shape cost one probe in all. */
const learnt = new WeakMap<ModelClass, Map<string, NodeFields>>();

/**
 * Field paths under `spec` that the schema does not declare. The compiled validators do not expose
 * their schema, so the schema is asked: per nesting level, one validation with every value at that
 * level replaced by {@link PROBE} (and a {@link SENTINEL} key in each object); a key whose probe draws
 * no error is unknown. Answers are remembered per model and field path, so only shapes not seen
 * before cost a validation.
 */
function unknownFields(model: ModelClass, root: { metadata: unknown; spec: unknown }): string[] {
  let nodes = learnt.get(model);
  if (!nodes) learnt.set(model, (nodes = new Map()));
  const unknown = new Set<string>();
  type Container = { pointer: string; shape: string; value: unknown };
  let level: Container[] = [{ pointer: '/spec', shape: 'spec', value: root.spec }];
  for (let depth = 1; level.length > 0; depth++) {
    const undecided = level.filter((c) => {
      if (!isRecord(c.value)) return false;
      const n = nodes.get(c.shape);
      return !n || (!n.map && Object.keys(c.value).some((k) => !n.known.has(k)));
    });
    let flagged = new Set<string>();
    if (undecided.length > 0) {
      const sentinels = new Set(undecided.map((c) => c.pointer));
      const probe = probedCopy(root.spec, depth, '/spec', sentinels);
      flagged = new Set(
        schemaErrors(model, { metadata: root.metadata, spec: probe }).map((e) => e.instancePath),
      );
      for (const c of undecided) {
        let n = nodes.get(c.shape);
        if (!n) nodes.set(c.shape, (n = { map: false, known: new Set() }));
        if (flagged.has(`${c.pointer}/${escapePointer(SENTINEL)}`)) n.map = true;
        for (const k of Object.keys(c.value as object)) {
          if (flagged.has(`${c.pointer}/${escapePointer(k)}`)) n.known.add(k);
        }
      }
    }
    const next: Container[] = [];
    for (const c of level) {
      if (Array.isArray(c.value)) {
        c.value.forEach((v, i) => {
          if (typeof v === 'object' && v !== null)
            next.push({ pointer: `${c.pointer}/${i}`, shape: `${c.shape}[]`, value: v });
        });
      } else if (isRecord(c.value)) {
        const n = nodes.get(c.shape)!;
        for (const [k, v] of Object.entries(c.value)) {
          const pointer = `${c.pointer}/${escapePointer(k)}`;
          if (!n.map && !n.known.has(k)) unknown.add(pointer);
          else if (typeof v === 'object' && v !== null)
            next.push({ pointer, shape: n.map ? `${c.shape}.*` : `${c.shape}.${k}`, value: v });
        }
      }
    }
    level = next;
  }
  return inDocumentOrder(root.spec, unknown);
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * A copy of `value` (at `pointer`) down to `depth`, with every value at `depth` replaced by
 * {@link PROBE}, and a {@link SENTINEL} key added to the objects at `sentinels`.
 */
function probedCopy(value: unknown, depth: number, pointer: string, sentinels: ReadonlySet<string>): unknown {
  if (depth === 0) return PROBE;
  if (Array.isArray(value))
    return value.map((v, i) => probedCopy(v, depth - 1, `${pointer}/${i}`, sentinels));
  if (isRecord(value)) {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      copy[k] = probedCopy(v, depth - 1, `${pointer}/${escapePointer(k)}`, sentinels);
    if (depth === 1 && sentinels.has(pointer)) copy[SENTINEL] = PROBE;
    return copy;
  }
  return value;
}

/** The field paths of `pointers` (below `/spec`) in document order. */
function inDocumentOrder(spec: unknown, pointers: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const walk = (value: unknown, pointer: string, path: string): void => {
    if (out.length === pointers.size) return;
    const entries: [string | number, unknown][] = Array.isArray(value)
      ? value.map((v, i) => [i, v])
      : isRecord(value)
        ? Object.entries(value)
        : [];
    for (const [k, v] of entries) {
      const child = `${pointer}/${escapePointer(String(k))}`;
      if (pointers.has(child)) out.push(fieldPath(path, k));
      else walk(v, child, fieldPath(path, k));
    }
  };
  if (pointers.size > 0) walk(spec, '/spec', 'spec');
  return out;
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
