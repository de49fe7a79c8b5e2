/**
 * "JSON logs with request ids": the decision line a service writes carries the id of the request that asked
 * for the decision — the one the caller sent in `X-Request-Id` and got back — so an operator can follow one
 * sign-in from the access log to its decision. On SQLite (logging does not depend on the database).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Harness } from '../support/harness.ts';
import { createAuthHarness, createClient, createTenant, createUser, PASSWORD, type TestClient } from './auth-support.ts';

describe('decision log lines', () => {
  const lines: Record<string, unknown>[] = [];
  let h: Harness;
  let client: TestClient;

  before(async () => {
    h = await createAuthHarness('sqlite', { logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
    client = await createClient(h, 'bank');
  });
  after(() => h.close());

  it('carry the request id of the sign-in that asked for the decision, and no secret', async () => {
    const tenant = await createTenant(h, 'logged', { enrollment: 'optional', challenge: 'never' });
    const user = await createUser(h, tenant.id, 'ada@example.com');
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/signin',
      headers: { authorization: client.authorization, 'content-type': 'application/json', 'x-request-id': 'trace-4711' },
      payload: JSON.stringify({ tenant: 'logged', identifier: 'ada@example.com', password: PASSWORD }),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['x-request-id'], 'trace-4711');

    const decisionLines = lines.filter((l) => l['outcome'] !== undefined);
    assert.equal(decisionLines.length, 1, JSON.stringify(lines));
    const line = decisionLines[0] ?? {};
    assert.equal(line['requestId'], 'trace-4711');
    assert.equal(line['outcome'], 'allow');
    assert.equal(line['userId'], user.id);
    assert.equal(line['tenantId'], tenant.id);
    const logged = JSON.stringify(lines);
    assert.ok(!logged.includes(PASSWORD), 'the password reached the log');
    assert.ok(!logged.includes(client.secret), 'the client secret reached the log');
    assert.ok(!logged.includes(client.authorization.slice('Basic '.length)), 'the Basic credentials reached the log');
  });
});
