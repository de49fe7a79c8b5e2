/**
 * Issue #8 item 6: the development clock header (`PORTCULLIS_DEV_CLOCK_HEADER`) is off by default, may be turned on
 * in the dev profile (with a loud warning), and makes the production profile refuse to start.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { describeConfig, loadConfig } from './config.ts';

const noFile = (): string => {
  throw new Error('no file expected');
};
const production = { PORTCULLIS_PROFILE: 'production', PORTCULLIS_SECRET_KEY: randomBytes(32).toString('base64'), PUBLIC_URL: 'https://mfa.example.com' };

describe('PORTCULLIS_DEV_CLOCK_HEADER', () => {
  it('is off unless set, in both profiles', () => {
    const dev = loadConfig({}, noFile);
    const prod = loadConfig(production, noFile);
    assert.ok(dev.ok && prod.ok);
    assert.equal(dev.config.devClockHeader, false);
    assert.equal(prod.config.devClockHeader, false);
  });

  it('turns on in dev, with a warning that names the header, and shows in describeConfig', () => {
    const result = loadConfig({ PORTCULLIS_DEV_CLOCK_HEADER: 'true' }, noFile);
    assert.ok(result.ok);
    assert.equal(result.config.devClockHeader, true);
    assert.ok(result.warnings.some((w) => w.startsWith('PORTCULLIS_DEV_CLOCK_HEADER is on') && w.includes('X-Portcullis-Now')));
    assert.equal(describeConfig(result.config)['devClockHeader'], true);
  });

  it('refuses to start the production profile with it on (environment or file)', () => {
    for (const [env, file, source] of [
      [{ ...production, PORTCULLIS_DEV_CLOCK_HEADER: 'yes' }, null, 'PORTCULLIS_DEV_CLOCK_HEADER'],
      [{ ...production, PORTCULLIS_CONFIG: 'p.json' }, { devClockHeader: true }, 'p.json: devClockHeader'],
    ] as const) {
      const result = loadConfig(env, () => JSON.stringify(file));
      assert.equal(result.ok, false);
      assert.deepEqual(result.ok ? [] : result.errors, [`${source}: the development clock header is refused in the production profile; any caller could move the server's clock`]);
    }
  });

  it('off in production is accepted, and a value that is not a boolean names the variable', () => {
    assert.ok(loadConfig({ ...production, PORTCULLIS_DEV_CLOCK_HEADER: 'false' }, noFile).ok);
    const bad = loadConfig({ PORTCULLIS_DEV_CLOCK_HEADER: 'maybe' }, noFile);
    assert.deepEqual(bad.ok ? [] : bad.errors, ['PORTCULLIS_DEV_CLOCK_HEADER: "maybe" is not true or false']);
  });
});
