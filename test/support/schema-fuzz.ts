/**
 * Schema-driven fuzzing from the app's own OpenAPI document (`GET /api/openapi.json`): every operation, its
 * credentials (the `security` scheme), its path and query parameters and its JSON body schema, as registered. From
 * each schema it builds one valid request and, for every field at every depth, values the schema refuses — each with
 * the answer it must get: 400 `INVALID_REQUEST` whose `field` names that field (`body.context.ip`,
 * `querystring.tenant`, `params.factorId`, or the enclosing union's path). A field added to a route's schema is
 * fuzzed without editing a test.
 *
 * The generator checks itself: a small JSON-Schema checker (the keywords our schemas use; an unknown keyword fails
 * loudly so that the checker is taught rather than a field silently skipped) confirms that the valid request
 * conforms and that every mutation does not.
 */
import { FormatRegistry } from '@sinclair/typebox';
import { POLICY_FIELDS, validatePolicyLayer } from '../../src/core/index.ts';
import '../../src/http/validator.ts'; // registers the `date-time` format the routes' validator uses

/** The JSON Schema subset in our route schemas. */
export interface JsonSchema {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly minProperties?: number;
  readonly maxProperties?: number;
  readonly anyOf?: readonly JsonSchema[];
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly format?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly items?: JsonSchema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems?: boolean;
}

/** Keywords that constrain nothing (annotations). */
const ANNOTATIONS = new Set(['description', 'default', 'title', 'examples', 'example', 'deprecated', 'readOnly', 'writeOnly', '$id']);
const CONSTRAINTS = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties', 'anyOf', 'enum', 'const', 'minLength', 'maxLength', 'pattern',
  'format', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'items', 'minItems', 'maxItems', 'uniqueItems',
]);

/** Throws on a keyword, type or format this module does not understand. */
function assertKnown(schema: JsonSchema, where: string): void {
  for (const key of Object.keys(schema)) {
    if (!CONSTRAINTS.has(key) && !ANNOTATIONS.has(key)) throw new Error(`${where}: schema keyword "${key}" is unknown to test/support/schema-fuzz.ts; teach it`);
  }
  if (schema.type !== undefined && !['string', 'integer', 'number', 'boolean', 'null', 'object', 'array'].includes(schema.type)) throw new Error(`${where}: type ${JSON.stringify(schema.type)} is unknown to schema-fuzz`);
  if (schema.format !== undefined && !FormatRegistry.Has(schema.format)) throw new Error(`${where}: format "${schema.format}" is not registered`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether `value` conforms to `schema`, as TypeBox's compiled check decides it (string lengths in UTF-16 units). */
export function conforms(schema: JsonSchema, value: unknown, where = '#'): boolean {
  assertKnown(schema, where);
  if (schema.anyOf !== undefined && !schema.anyOf.some((branch, i) => conforms(branch, value, `${where}/anyOf/${i}`))) return false;
  if (schema.enum !== undefined && !schema.enum.some((e) => Object.is(e, value))) return false;
  if ('const' in schema && !Object.is(schema.const, value)) return false;
  switch (schema.type) {
    case undefined:
      break;
    case 'string': {
      if (typeof value !== 'string') return false;
      if (schema.minLength !== undefined && value.length < schema.minLength) return false;
      if (schema.maxLength !== undefined && value.length > schema.maxLength) return false;
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) return false;
      if (schema.format !== undefined && FormatRegistry.Get(schema.format)?.(value) !== true) return false;
      break;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return false;
      if (schema.type === 'integer' && !Number.isInteger(value)) return false;
      if (schema.minimum !== undefined && value < schema.minimum) return false;
      if (schema.maximum !== undefined && value > schema.maximum) return false;
      if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return false;
      if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) return false;
      break;
    }
    case 'boolean':
      if (typeof value !== 'boolean') return false;
      break;
    case 'null':
      if (value !== null) return false;
      break;
    case 'array': {
      if (!Array.isArray(value)) return false;
      if (schema.minItems !== undefined && value.length < schema.minItems) return false;
      if (schema.maxItems !== undefined && value.length > schema.maxItems) return false;
      if (schema.uniqueItems === true && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) return false;
      const items = schema.items;
      if (items !== undefined && !value.every((v, i) => conforms(items, v, `${where}/${i}`))) return false;
      break;
    }
    case 'object': {
      if (!isObject(value)) return false;
      const keys = Object.getOwnPropertyNames(value);
      if (schema.minProperties !== undefined && keys.length < schema.minProperties) return false;
      if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) return false;
      for (const name of schema.required ?? []) if (!keys.includes(name)) return false;
      for (const key of keys) {
        const declared = schema.properties?.[key];
        if (declared !== undefined) {
          if (!conforms(declared, value[key], `${where}/${key}`)) return false;
        } else if (schema.additionalProperties === false) {
          return false;
        } else if (isObject(schema.additionalProperties) && !conforms(schema.additionalProperties, value[key], `${where}/${key}`)) {
          return false;
        }
      }
      break;
    }
  }
  return true;
}

/** Text candidates for a valid string: the first that conforms is used. */
function stringCandidates(schema: JsonSchema): string[] {
  const n = Math.max(schema.minLength ?? 1, 1);
  const pad = (s: string): string => (s.length >= n ? s : s + 'a'.repeat(n - s.length));
  return [
    'a'.repeat(n),
    pad('fuzz'),
    'fuzz@example.com',
    '+14155550100',
    '123456',
    '2030-01-01T00:00:00Z',
    pad('a1'),
    pad('A'),
    '1'.repeat(n),
  ];
}

/** A value `schema` accepts; every optional property and one array item included, so that each can be fuzzed. */
export function validValue(schema: JsonSchema, where = '#'): unknown {
  assertKnown(schema, where);
  let value: unknown;
  if (schema.enum !== undefined) value = schema.enum[0];
  else if ('const' in schema) value = schema.const;
  else if (schema.anyOf !== undefined) {
    // Prefer a non-null branch: a null is a weaker base to mutate from.
    const branches = [...schema.anyOf].sort((a, b) => Number(a.type === 'null') - Number(b.type === 'null'));
    for (const branch of branches) {
      try {
        value = validValue(branch, where);
        break;
      } catch {
        // try the next branch
      }
    }
  } else {
    switch (schema.type) {
      case 'string':
        value = stringCandidates(schema).find((s) => conforms(schema, s, where));
        break;
      case 'integer':
      case 'number': {
        const low = schema.minimum ?? (schema.exclusiveMinimum === undefined ? undefined : schema.exclusiveMinimum + 1);
        value = Math.max(low ?? 1, Math.min(1, schema.maximum ?? 1));
        break;
      }
      case 'boolean':
        value = true;
        break;
      case 'null':
        value = null;
        break;
      case 'array': {
        const items = schema.items;
        const count = Math.max(schema.minItems ?? 0, schema.maxItems === 0 ? 0 : 1);
        if (items === undefined) value = [];
        else if (schema.uniqueItems === true || (items.enum ?? items.anyOf) !== undefined) value = uniqueValues(items, count, `${where}/items`);
        else value = Array.from({ length: count }, () => validValue(items, `${where}/items`));
        break;
      }
      case 'object': {
        const out: Record<string, unknown> = {};
        for (const [name, property] of Object.entries(schema.properties ?? {})) out[name] = validValue(property, `${where}/${name}`);
        const extra = schema.additionalProperties;
        if (isObject(extra)) for (let i = Object.keys(out).length; i < Math.max(schema.minProperties ?? 0, 1); i++) out[`key${i}`] = validValue(extra, `${where}/key${i}`);
        value = out;
        break;
      }
    }
  }
  if (value === undefined || !conforms(schema, value, where)) throw new Error(`${where}: cannot make a valid value for ${JSON.stringify(schema)}; teach schema-fuzz.ts`);
  return value;
}

/** `count` distinct valid values of a union or enum (an array of factor types, say). */
function uniqueValues(schema: JsonSchema, count: number, where: string): unknown[] {
  const pool = schema.enum ?? schema.anyOf?.flatMap((b) => b.enum ?? ('const' in b ? [b.const] : [validValue(b, where)])) ?? [validValue(schema, where)];
  return pool.slice(0, count);
}

/** A path into a request part: property names and array indexes. */
export type Segment = string | number;

/** How the API's error names a field: `body.context.ip`, `body.items[0]`, `body["odd key"]` (src/http/errors.ts). */
export function fieldName(part: string, path: readonly Segment[]): string {
  let field = part;
  for (const segment of path) {
    const name = String(segment);
    if (typeof segment === 'number' || /^\d+$/.test(name)) field += `[${name}]`;
    else field += /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
  }
  return field;
}

/** One malformed value for one location, and where the API must say the fault is. */
export interface Mutation {
  readonly label: string;
  /** The valid value it is applied to (the one given, or one where a union takes another branch). */
  readonly base: unknown;
  /** The location changed; `value` replaces it, or the key is removed when `remove`. */
  readonly path: readonly Segment[];
  readonly value?: unknown;
  readonly remove?: boolean;
  /** The path the error must name (the location, or the outermost union around it). */
  readonly errorPath: readonly Segment[];
}

/** Values of every JSON type: those the location refuses become mutations. */
const ANY_TYPE: readonly unknown[] = [null, true, false, 0, -1, 1.5, 1e21, '', 'x', [], {}, ['x'], { x: 1 }];

/** Strings aimed at lengths, patterns, formats and enums: kept where the schema refuses them. */
function stringMutations(schema: JsonSchema, valid: unknown): unknown[] {
  const base = typeof valid === 'string' ? valid : 'a';
  const out: unknown[] = [
    '',
    ' ',
    `${base}\u0000`,
    `\u0000${base}`,
    `${base}\n`,
    `${base}\u0001`,
    `${base}\u007f`,
    `${base} `,
    ` ${base}`,
    base.toUpperCase(),
    `${base}é`,
    `-${base}`,
    `${base}:x`,
    `../${base}`,
    '٣',
    '😀',
    '2030-02-30T00:00:00Z',
    '2030-01-01',
    'soon',
  ];
  if (schema.maxLength !== undefined) out.push('x'.repeat(schema.maxLength + 1), '٣'.repeat(schema.maxLength + 1));
  if (schema.minLength !== undefined && schema.minLength > 1) out.push('x'.repeat(schema.minLength - 1));
  if (typeof valid === 'string') out.push(valid.slice(0, -1), `${valid}x`);
  return out;
}

function numberMutations(schema: JsonSchema, valid: unknown): unknown[] {
  const out: unknown[] = [String(valid), 0.5, -0.5, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e300];
  if (schema.minimum !== undefined) out.push(schema.minimum - 1, schema.minimum - 0.5);
  if (schema.maximum !== undefined) out.push(schema.maximum + 1, schema.maximum + 0.5);
  return out;
}

function get(root: unknown, path: readonly Segment[]): unknown {
  let at: unknown = root;
  for (const segment of path) at = (at as Record<string | number, unknown> | undefined)?.[segment];
  return at;
}

/** The mutation applied to its base (a deep copy; the base is left alone). */
export function applyMutation(mutation: Mutation): unknown {
  const copy: unknown = structuredClone(mutation.base);
  if (mutation.path.length === 0) return mutation.value;
  const parent = get(copy, mutation.path.slice(0, -1)) as Record<string | number, unknown>;
  const last = mutation.path[mutation.path.length - 1] as Segment;
  if (mutation.remove === true) delete parent[last];
  else parent[last] = mutation.value;
  return copy;
}

/**
 * Every mutation of `valid` (which conforms to `schema`) that the schema refuses, at every depth: wrong types,
 * boundary lengths and numbers, pattern, format and enum breakers, missing required properties, undeclared
 * properties, too many or too few items or properties.
 */
export function mutationsOf(schema: JsonSchema, valid: unknown): Mutation[] {
  const out: Mutation[] = [];
  const seen = new Set<string>();
  const add = (m: Omit<Mutation, 'base'>, base: unknown): void => {
    const mutation = { ...m, base };
    const mutated = applyMutation(mutation);
    const key = JSON.stringify(mutated) ?? 'undefined';
    if (seen.has(key)) return;
    if (conforms(schema, mutated)) return; // still valid: not a malformed input
    seen.add(key);
    out.push(mutation);
  };

  const walk = (node: JsonSchema, value: unknown, path: Segment[], unionPath: Segment[] | null, base: unknown): void => {
    const errorPath = unionPath ?? (node.anyOf !== undefined ? path : null) ?? path;
    const inUnion = unionPath ?? (node.anyOf !== undefined ? path : null);
    const label = (what: string): string => `${fieldName('', path)} ${what}`;
    // A whole object or array in place of one is judged by its contents (a missing property, an item): those are
    // mutated one by one below, with the field they name.
    const anyType = ANY_TYPE.filter((v) => !(node.type === 'object' && isObject(v)) && !(node.type === 'array' && Array.isArray(v) && v.length > 0));
    const candidates = [...anyType, ...(node.type === 'string' || node.anyOf !== undefined || node.enum !== undefined ? stringMutations(node, value) : []), ...(node.type === 'integer' || node.type === 'number' ? numberMutations(node, value) : [])];
    for (const candidate of candidates) add({ label: label(`= ${show(candidate)}`), path, value: candidate, errorPath }, base);

    // A union: descend into every branch, each from a valid value of its own (`{ days }` and `{ until }`).
    if (node.anyOf !== undefined) {
      for (const branch of node.anyOf) {
        let branchValue: unknown = value;
        if (!conforms(branch, value)) {
          try {
            branchValue = validValue(branch);
          } catch {
            continue;
          }
        }
        const branchBase = branchValue === value ? base : applyMutation({ label: '', base, path, value: branchValue, errorPath });
        walk(branch, branchValue, path, inUnion, branchBase);
      }
      return;
    }
    if (node.type === 'object' && isObject(value)) {
      for (const name of node.required ?? []) add({ label: label(`without ${name}`), path: [...path, name], remove: true, errorPath: inUnion ?? [...path, name] }, base);
      for (const extra of ['extra', 'admin', 'verified', 'status', 'tenantId', 'odd key']) {
        if (node.properties?.[extra] !== undefined) continue;
        add({ label: label(`with undeclared ${extra}`), path: [...path, extra], value: true, errorPath: inUnion ?? [...path, extra] }, base);
      }
      if (node.maxProperties !== undefined && isObject(node.additionalProperties)) {
        const more = Object.fromEntries(Array.from({ length: node.maxProperties + 1 }, (_, i) => [`key${i}`, validValue(node.additionalProperties as JsonSchema)]));
        add({ label: label(`with ${node.maxProperties + 1} properties`), path, value: more, errorPath }, base);
      }
      for (const [name, child] of Object.entries(value)) {
        const declared = node.properties?.[name] ?? (isObject(node.additionalProperties) ? node.additionalProperties : undefined);
        if (declared !== undefined) walk(declared, child, [...path, name], inUnion, base);
      }
    }
    if (node.type === 'array' && Array.isArray(value)) {
      if (node.maxItems !== undefined) add({ label: label(`with ${node.maxItems + 1} items`), path, value: Array.from({ length: node.maxItems + 1 }, (_, i) => value[i % Math.max(value.length, 1)] ?? 'x'), errorPath }, base);
      if (value.length > 0) {
        add({ label: label('with a duplicate item'), path, value: [...value, value[0]], errorPath }, base);
        if (node.items !== undefined) walk(node.items, value[0], [...path, 0], inUnion, base);
      }
    }
  };
  walk(schema, valid, [], null, valid);
  return out;
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** One operation of the OpenAPI document. */
export interface Operation {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** As in the document, e.g. `/api/v1/tenants/{tenantId}`. */
  readonly path: string;
  /** The security scheme names it accepts (`adminToken`, `clientCredentials`), empty when public. */
  readonly security: readonly string[];
  readonly body: JsonSchema | null;
  readonly bodyRequired: boolean;
  readonly params: readonly { readonly name: string; readonly in: 'path' | 'query'; readonly required: boolean; readonly schema: JsonSchema }[];
}

interface OpenApiDocument {
  readonly paths: Record<string, Record<string, { security?: Record<string, unknown>[]; requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> }; parameters?: { name: string; in: string; required?: boolean; schema: JsonSchema }[] }>>;
}

/** The operations of an OpenAPI 3 document (as `@fastify/swagger` writes it: schemas inline). */
export function operationsOf(doc: OpenApiDocument): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const upper = method.toUpperCase();
      if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(upper)) continue;
      const content = op.requestBody?.content;
      if (content !== undefined && Object.keys(content).some((type) => type !== 'application/json')) throw new Error(`${upper} ${path}: a body other than JSON; teach schema-fuzz.ts`);
      const params = (op.parameters ?? []).map((p) => {
        if (p.in !== 'path' && p.in !== 'query') throw new Error(`${upper} ${path}: a ${p.in} parameter; teach schema-fuzz.ts`);
        return { name: p.name, in: p.in as 'path' | 'query', required: p.required === true, schema: p.schema };
      });
      out.push({
        method: upper as Operation['method'],
        path,
        security: (op.security ?? []).flatMap((s) => Object.keys(s)),
        body: content?.['application/json']?.schema ?? null,
        bodyRequired: op.requestBody?.required === true,
        params,
      });
    }
  }
  return out;
}

/** A request: the URL (path with parameters filled in, query string) and the body. */
export interface FuzzRequest {
  readonly label: string;
  readonly method: Operation['method'];
  readonly url: string;
  /** Absent: no body is sent. */
  readonly body?: unknown;
  /** The request part and the location in it that was made malformed. */
  readonly part: 'body' | 'params' | 'querystring';
  readonly location: readonly Segment[];
  /** The 400 it must get: its code, and the field it must name. */
  readonly expected: Expected;
}

/**
 * The answer a malformed input must get. Schema faults: `INVALID_REQUEST` with `field` exactly the field (or its
 * union). Inside a policy layer (an object declaring every policy field), core's `validatePolicyLayer` judges the
 * values first (docs/api.md "Policy layers"): when core refuses the mutated layer, `INVALID_POLICY` with `errors`
 * naming the field or parts of it in core's form (`draft.recoveryCodes.count`, `allowedFactors[0]`); what core
 * does not judge (list and map sizes, a missing layer, a PUT's `effectiveAt`) falls to the schema.
 */
export type Expected = { readonly code: 'INVALID_REQUEST'; readonly field: string } | { readonly code: 'INVALID_POLICY'; readonly field: string };

/** Whether an object schema is a policy layer: it declares every policy field. */
function isPolicyLayer(schema: JsonSchema): boolean {
  return schema.type === 'object' && POLICY_FIELDS.every((f) => schema.properties?.[f] !== undefined);
}

/** The policy layers inside a body schema (a layer is not looked into further). */
function policyLayers(schema: JsonSchema, path: Segment[] = []): { path: Segment[]; schema: JsonSchema }[] {
  if (isPolicyLayer(schema)) return [{ path, schema }];
  return Object.entries(schema.properties ?? {}).flatMap(([name, child]) => policyLayers(child, [...path, name]));
}

/** Core's way of naming a field: `draft.recoveryCodes.count`, `allowedFactors[0]`, `''` for the layer itself. */
function policyFieldName(path: readonly Segment[]): string {
  return path.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc === '' ? s : `${acc}.${s}`), '');
}

/** Who judges a body mutation at `location`: core's policy validation when it refuses the mutated layer, else the schema. */
function expectedFor(layers: readonly { path: Segment[]; schema: JsonSchema }[], body: unknown, location: readonly Segment[], errorPath: readonly Segment[]): Expected {
  for (const layer of layers) {
    if (!layer.path.every((s, i) => location[i] === s)) continue;
    const value = get(body, layer.path);
    if (value === undefined) break;
    // The layer as core gets it: without the layer schema's non-policy fields (a PUT's `effectiveAt`).
    const judged = isObject(value) ? Object.fromEntries(Object.entries(value).filter(([k]) => (POLICY_FIELDS as readonly string[]).includes(k) || layer.schema.properties?.[k] === undefined)) : value;
    if (!validatePolicyLayer(judged).ok) return { code: 'INVALID_POLICY', field: policyFieldName(location) };
  }
  return { code: 'INVALID_REQUEST', field: fieldName('body', errorPath) };
}

/** Query values as a URL sends them: text. */
function queryText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function buildUrl(op: Operation, path: Record<string, string>, query: readonly [string, string][]): string {
  const filled = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(path[name] ?? ''));
  const qs = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return qs === '' ? filled : `${filled}?${qs}`;
}

/**
 * The valid request of an operation (never sent: it would run the handler) and every malformed request derived from
 * its schemas, each with the field its 400 must name. Path and query values are text, so they are mutated as text.
 */
export function fuzzRequests(op: Operation): { valid: { url: string; body?: unknown }; malformed: FuzzRequest[] } {
  const pathValues: Record<string, string> = {};
  const queryValues: [string, string][] = [];
  for (const p of op.params) {
    const value = validValue(p.schema, `${op.method} ${op.path} ${p.in} ${p.name}`);
    if (p.in === 'path') pathValues[p.name] = queryText(value);
    else queryValues.push([p.name, queryText(value)]);
  }
  const validBody = op.body === null ? undefined : validValue(op.body, `${op.method} ${op.path} body`);
  const validUrl = buildUrl(op, pathValues, queryValues);
  const malformed: FuzzRequest[] = [];
  const withBody = validBody === undefined ? {} : { body: validBody };

  for (const p of op.params) {
    const part = p.in === 'path' ? 'params' : 'querystring';
    const textSchema = p.schema;
    const texts = new Set<string>();
    for (const m of mutationsOf(textSchema, p.in === 'path' ? pathValues[p.name] : queryValues.find(([k]) => k === p.name)?.[1])) {
      if (m.remove === true || m.path.length > 0) continue;
      const text = queryText(m.value);
      // Path text is never empty (the router would not match); text that the declared type converts to a valid value is not malformed.
      if ((p.in === 'path' && text === '') || texts.has(text) || conforms(textSchema, convertText(textSchema, text))) continue;
      texts.add(text);
      const path = p.in === 'path' ? { ...pathValues, [p.name]: text } : pathValues;
      const query = p.in === 'query' ? queryValues.map(([k, v]): [string, string] => [k, k === p.name ? text : v]) : queryValues;
      malformed.push({ label: `${part}.${p.name} = ${show(text)}`, method: op.method, url: buildUrl(op, path, query), ...withBody, part, location: [p.name], expected: { code: 'INVALID_REQUEST', field: fieldName(part, [p.name]) } });
    }
    if (p.in === 'query') {
      if (p.required) malformed.push({ label: `querystring without ${p.name}`, method: op.method, url: buildUrl(op, pathValues, queryValues.filter(([k]) => k !== p.name)), ...withBody, part, location: [p.name], expected: { code: 'INVALID_REQUEST', field: fieldName(part, [p.name]) } });
      // A repeated parameter arrives as an array.
      const twice = [...queryValues, [p.name, queryValues.find(([k]) => k === p.name)?.[1] ?? 'x'] as [string, string]];
      malformed.push({ label: `querystring ${p.name} twice`, method: op.method, url: buildUrl(op, pathValues, twice), ...withBody, part, location: [p.name], expected: { code: 'INVALID_REQUEST', field: fieldName(part, [p.name]) } });
    }
  }
  if (op.body !== null) {
    const layers = policyLayers(op.body);
    for (const m of mutationsOf(op.body, validBody)) {
      const mutated = applyMutation(m);
      malformed.push({ label: `body${m.label}`, method: op.method, url: validUrl, body: mutated, part: 'body', location: m.path, expected: expectedFor(layers, mutated, m.path, m.errorPath) });
    }
  }
  return { valid: { url: validUrl, ...withBody }, malformed };
}

/** What the strict validator does to query and path text before the check (src/http/validator.ts): exact integers, booleans. */
function convertText(schema: JsonSchema, text: string): unknown {
  if (schema.type === 'integer' && /^-?(0|[1-9][0-9]{0,15})$/.test(text)) return Number(text);
  if (schema.type === 'number' && /^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,15})?$/.test(text)) return Number(text);
  if (schema.type === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}
