/**
 * Field validation: what Istio's admission webhook (`pkg/config/validation`) rejects, per resource,
 * as `IST0106` errors, and what it warns about as `IST0133` (validation warnings) or `IST0002`
 * (deprecated fields) warnings. Every finding names the field path and the reason.
 *
 * Runs the schema check ({@link validateSchema}) and the field rules on every resource, and reports
 * both in one pass; each diagnostic names the line and column of its field.
 */
import { fieldPosition } from './field-positions.js';
import { type Diagnostic } from './diagnostics.js';
import { type Kind, type Resource, type SpecByKind } from './resources.js';
import { isRecord, validateSchema } from './schema.js';
import { validateGateway } from './validate-gateway.js';
import { validateVirtualService } from './validate-virtual-service.js';
import { validateDestinationRule } from './validate-destination-rule.js';
import { validateServiceEntry, validateWorkloadEntry } from './validate-service-entry.js';
import { Validator } from './field-rules.js';

/**
 * Validates resources as Istio's admission webhook would: schema first, then the field rules of
 * each kind (Gateway, VirtualService, DestinationRule, ServiceEntry, WorkloadEntry).
 *
 * @returns `IST0106` errors (layer `schema`: the resource would be rejected), `IST0133` and
 * `IST0002` warnings, in resource order. Never throws, whatever the specs contain.
 */
export function validateResources(resources: readonly Resource[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const r of resources) {
    const schema = validateSchema(r);
    const rules: Diagnostic[] = [];
    const v = new Validator(r, rules);
    try {
      // A null spec passes the schema (`nullable`); the rules then see an empty one. The rules run even
      // after schema errors (every diagnostic of a resource in one pass); they guard every shape.
      RULES[r.kind](v, (isRecord(r.spec) ? r.spec : {}) as never, r as never);
    } catch (err) {
      // A rule tripping over an unexpected shape must not take the whole validation down.
      v.warn('spec', `validation stopped early: ${err instanceof Error ? err.message : String(err)}`);
    }
    for (const d of merged(schema, rules)) out.push(withFieldPosition(d));
  }
  return out;
}

/** A schema type error, e.g. `must be array (got string)`: the rules' view of that value is moot. */
const TYPE_ERROR = /^must be \w+ \(got \w+\)$/;

/**
 * One resource's schema and rule diagnostics without saying one thing twice: where the schema found a
 * value of the wrong type, rule findings at or below it are dropped; where a rule and the schema flag
 * the same field, the rule's (more specific) wording is kept.
 */
function merged(schema: readonly Diagnostic[], rules: readonly Diagnostic[]): Diagnostic[] {
  const typeErrors = schema
    .filter((d) => d.severity === 'error' && TYPE_ERROR.test(d.message))
    .map((d) => d.path ?? '');
  const under = (path: string | undefined, base: string): boolean =>
    path !== undefined && (path === base || path.startsWith(`${base}.`) || path.startsWith(`${base}[`));
  const ruleErrorPaths = new Set(rules.filter((d) => d.severity === 'error').map((d) => d.path));
  return [
    ...schema.filter(
      (d) => d.severity !== 'error' || TYPE_ERROR.test(d.message) || !ruleErrorPaths.has(d.path),
    ),
    ...rules.filter((d) => !typeErrors.some((base) => under(d.path, base))),
  ];
}

/** Points a diagnostic with a field path at that field's line and column. */
function withFieldPosition(d: Diagnostic): Diagnostic {
  if (!d.source || d.path === undefined) return d;
  const at = fieldPosition(d.source, d.path);
  return at ? { ...d, source: { ...d.source, line: at.line, column: at.column } } : d;
}

type Rule<K extends Kind> = (v: Validator, spec: SpecByKind[K], r: Resource<K>) => void;

const RULES: { [K in Kind]: Rule<K> } = {
  Gateway: validateGateway,
  VirtualService: validateVirtualService,
  DestinationRule: validateDestinationRule,
  ServiceEntry: validateServiceEntry,
  WorkloadEntry: validateWorkloadEntry,
};
