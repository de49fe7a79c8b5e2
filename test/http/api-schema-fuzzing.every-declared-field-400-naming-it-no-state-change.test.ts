/**
 * SECURITY "Schema-driven fuzzing of every API body field → 4xx with a stable code, never 5xx, never a state
 * change", driven by the schemas as registered: the routes, their credentials and their body, path and query
 * schemas are read from the app's OpenAPI document (`/api/openapi.json`), not copied here, so a new route or field
 * is fuzzed without editing this test (test/support/schema-fuzz.ts). For every field at every depth, each value the
 * schema refuses — wrong JSON types, lengths one past the bounds, control characters and other pattern breakers,
 * impossible dates, numbers out of range or fractional, values outside an enum, missing required and undeclared
 * properties, too many items — must answer exactly 400 `INVALID_REQUEST` with `field` naming that field (or the
 * union it belongs to), with valid credentials for the route, on SQLite and PostgreSQL; afterwards every table
 * is unchanged. Semantic refusals that the schemas cannot express (wrong codes, unknown ids, other tenants) are
 * in auth-body-fuzzing-4xx-no-state-change.test.ts and admin-bad-bodies.4xx-stable-code-no-state-change.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { fuzzRequests, operationsOf, type Expected, type JsonSchema, type Operation, type Segment } from '../support/schema-fuzz.ts';
import { snapshot } from '../support/snapshot.ts';
import { createAuthHarness, createClient, type TestClient } from './auth-support.ts';

/** Every property location a schema declares (nested objects, array items, union branches). */
function declaredLocations(schema: JsonSchema, path: Segment[] = []): string[] {
  const out: string[] = [];
  for (const branch of schema.anyOf ?? []) out.push(...declaredLocations(branch, path));
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    out.push(JSON.stringify([...path, name]));
    out.push(...declaredLocations(child, [...path, name]));
  }
  if (schema.items !== undefined) out.push(...declaredLocations(schema.items, [...path, 0]));
  return out;
}

/** Why an answer is not the one expected, or null when it is. */
function answerProblem(status: number, text: string, expected: Expected): string | null {
  let body: { error?: unknown; field?: unknown; message?: unknown; errors?: unknown } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return 'not JSON';
  }
  if (status !== 400 || body.error !== expected.code || typeof body.message !== 'string') return `expected 400 ${expected.code}`;
  if (expected.code === 'INVALID_REQUEST') return body.field === expected.field ? null : `expected field ${expected.field}`;
  // Core names the fault itself, which may lie inside the value replaced (the bad item of a list).
  const named = Array.isArray(body.errors) ? body.errors.map((e: { field?: unknown }) => String(e.field)) : [];
  const within = (f: string): boolean => f === expected.field || (expected.field === '' ? true : f.startsWith(`${expected.field}.`) || f.startsWith(`${expected.field}[`));
  return named.length > 0 && named.every(within) ? null : `expected errors naming ${JSON.stringify(expected.field)}`;
}

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;
  let operations: Operation[];

  before(async () => {
    h = await createAuthHarness(dialect);
    client = await createClient(h, 'schema-fuzz');
    const res = await h.app.inject({ method: 'GET', url: '/api/openapi.json' });
    assert.equal(res.statusCode, 200);
    operations = operationsOf(JSON.parse(res.body));
  });
  after(() => h.close());

  function credentials(op: Operation): string {
    if (op.security.includes('adminToken')) return `Bearer ${h.platformToken}`;
    if (op.security.includes('clientCredentials')) return client.authorization;
    throw new Error(`${op.method} ${op.path}: security ${JSON.stringify(op.security)}; teach this test its credentials`);
  }

  it('the OpenAPI document lists admin and application routes, with bodies and parameters to fuzz', () => {
    const withInput = operations.filter((op) => op.body !== null || op.params.length > 0);
    assert.ok(withInput.some((op) => op.security.includes('adminToken') && op.body !== null), 'an admin route with a body');
    assert.ok(withInput.some((op) => op.security.includes('clientCredentials') && op.body !== null), 'an application route with a body');
    for (const op of withInput) assert.ok(op.security.length > 0, `${op.method} ${op.path} takes input and names its credentials`);
  });

  it('every body object is closed: an undeclared field is refused, never ignored', () => {
    const open: string[] = [];
    const visit = (schema: JsonSchema, where: string): void => {
      if (schema.type === 'object' && schema.additionalProperties === undefined) open.push(where);
      for (const [name, child] of Object.entries(schema.properties ?? {})) visit(child, `${where}.${name}`);
      for (const branch of schema.anyOf ?? []) visit(branch, where);
      if (schema.items !== undefined) visit(schema.items, `${where}[]`);
      if (typeof schema.additionalProperties === 'object') visit(schema.additionalProperties, `${where}.*`);
    };
    for (const op of operations) if (op.body !== null) visit(op.body, `${op.method} ${op.path} body`);
    assert.deepEqual(open, []);
  });

  it('every value a route schema refuses, in every field at every depth → 400 naming the field (INVALID_REQUEST; INVALID_POLICY inside a policy layer), no echo; no table changes', async () => {
    const before = await snapshot(h.database);
    const failures: string[] = [];
    let sent = 0;
    for (const op of operations) {
      if (op.body === null && op.params.length === 0) continue;
      const authorization = credentials(op);
      const { malformed } = fuzzRequests(op);
      // Every declared body property, and every parameter, is made malformed at least once.
      const touched = new Set(malformed.map((r) => `${r.part} ${JSON.stringify(r.location)}`));
      const declared = [...(op.body === null ? [] : declaredLocations(op.body).map((l) => `body ${l}`)), ...op.params.map((p) => `${p.in === 'path' ? 'params' : 'querystring'} ${JSON.stringify([p.name])}`)];
      for (const location of declared) if (!touched.has(location)) failures.push(`${op.method} ${op.path}: ${location} is never made malformed`);
      for (const request of malformed) {
        const res = await h.app.inject({
          method: request.method,
          url: request.url,
          headers: { authorization, ...(request.body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(request.body === undefined ? {} : { payload: JSON.stringify(request.body) }),
        });
        sent++;
        const long = JSON.stringify(request.body ?? '').match(/(?<=")[^"]{65,}(?=")/)?.[0];
        const problem = long !== undefined && res.body.includes(long.slice(0, 65)) ? 'the answer echoes the input' : answerProblem(res.statusCode, res.body, request.expected);
        if (problem !== null) failures.push(`${request.method} ${request.url.slice(0, 90)} [${request.label}] → ${res.statusCode} ${res.body.slice(0, 160)}: ${problem}`);
      }
    }
    assert.deepEqual(failures.slice(0, 40), [], `${failures.length} of ${sent} requests answered otherwise`);
    assert.ok(sent > 1000, `only ${sent} malformed requests were derived`);
    assert.deepEqual(await snapshot(h.database), before, 'a refused request changed a table');
  });
});
