/**
 * The client's credentials header follows RFC 6749 §2.3.1: client id and secret are each
 * `application/x-www-form-urlencoded` before the Basic encoding (RFC 7617), so a secret with `:`, a space or
 * non-ASCII reaches the server intact; and a request that brings its own Authorization (an admin bearer) keeps it.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { basicAuthorization, createPortcullisClient } from './index.ts';

it('form-encodes each part before the Basic encoding', () => {
  assert.equal(basicAuthorization('pcid_abc', 'pcs_xyz'), `Basic ${Buffer.from('pcid_abc:pcs_xyz').toString('base64')}`);
  assert.equal(basicAuthorization('a b', 'c:d/é'), `Basic ${Buffer.from('a+b:c%3Ad%2F%C3%A9').toString('base64')}`);
});

it('sends the Basic credentials on each request unless the request carries its own Authorization', async () => {
  const seen: (string | null)[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    seen.push(request.headers.get('authorization'));
    return new Response('{"status":"ok"}', { status: 200, headers: { 'content-type': 'application/json' } });
  };
  const client = createPortcullisClient({ baseUrl: 'http://portcullis.invalid', clientId: 'pcid_1', clientSecret: 'pcs_2', fetch });
  await client.GET('/healthz');
  await client.GET('/api/v1/tenants', { headers: { authorization: 'Bearer pat_admin' } });
  assert.deepEqual(seen, [basicAuthorization('pcid_1', 'pcs_2'), 'Bearer pat_admin']);
});
