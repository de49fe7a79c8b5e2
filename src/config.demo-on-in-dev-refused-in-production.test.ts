/**
 * The demo (`PORTCULLIS_DEMO`): on by default in the dev profile, off by default in production, can be turned off
 * in dev, and makes the production profile refuse to start when turned on (a printed password and a demo client).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { describeConfig, loadConfig } from './config.ts';

const noFile = (): string => {
  throw new Error('no file expected');
};
const production = { PORTCULLIS_PROFILE: 'production', PORTCULLIS_SECRET_KEY: randomBytes(32).toString('base64'), PUBLIC_URL: 'https://mfa.example.com' };

describe('PORTCULLIS_DEMO', () => {
  it('is on by default in dev, off by default in production, and shows in describeConfig', () => {
    const dev = loadConfig({}, noFile);
    const prod = loadConfig(production, noFile);
    assert.ok(dev.ok && prod.ok);
    assert.equal(dev.config.demo, true);
    assert.equal(prod.config.demo, false);
    assert.equal(describeConfig(dev.config)['demo'], true);
  });

  it('can be turned off in dev', () => {
    const result = loadConfig({ PORTCULLIS_DEMO: 'false' }, noFile);
    assert.ok(result.ok);
    assert.equal(result.config.demo, false);
  });

  it('refuses to start the production profile with it on (environment or file)', () => {
    for (const [env, file, source] of [
      [{ ...production, PORTCULLIS_DEMO: 'true' }, null, 'PORTCULLIS_DEMO'],
      [{ ...production, PORTCULLIS_CONFIG: 'p.json' }, { demo: true }, 'p.json: demo'],
    ] as const) {
      const result = loadConfig(env, () => JSON.stringify(file));
      assert.equal(result.ok, false);
      assert.deepEqual(result.ok ? [] : result.errors, [`${source}: the demo (a tenant, a user with a printed password and a relying party) is refused in the production profile; unset it`]);
    }
  });
});
