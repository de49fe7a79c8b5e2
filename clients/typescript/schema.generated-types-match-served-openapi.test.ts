/**
 * The committed `src/schema.d.ts` is what openapi-typescript generates from the OpenAPI document the server serves
 * today: a route, body or answer changed without `npm run client:generate` fails here, so the typed client never
 * drifts from the API.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { generateSchemaTypes, loadOpenApiDocument, SCHEMA_FILE } from './generate.ts';

it('the committed schema.d.ts equals the types generated from the served OpenAPI document (run npm run client:generate)', async () => {
  const document = await loadOpenApiDocument();
  // The document is the application API's: the routes the example shop calls are in it, each with its answer.
  for (const path of ['/api/v1/auth/signin', '/api/v1/auth/mfa/verify', '/api/v1/auth/mfa/enroll/totp', '/api/v1/auth/mfa/enroll/totp/confirm', '/api/v1/auth/mfa/step-up', '/api/v1/auth/sessions/introspect']) {
    const post = (document.paths?.[path] as { post?: { responses?: Record<string, unknown> } } | undefined)?.post;
    assert.ok(post?.responses?.['200'] !== undefined, `${path} declares its 200 answer`);
  }
  const generated = await generateSchemaTypes(document);
  const committed = readFileSync(SCHEMA_FILE, 'utf8');
  assert.ok(generated === committed, `${SCHEMA_FILE} is out of date: run npm run client:generate and commit the result`);
});
