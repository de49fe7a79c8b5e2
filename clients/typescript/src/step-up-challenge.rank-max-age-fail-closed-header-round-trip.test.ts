/**
 * The RFC 9470 helper: `acr` judged by rank (a stronger level meets a weaker requirement, a weaker or unknown one
 * does not, a value outside the order only by equality), `auth_time` judged against `max_age` (too old, missing,
 * malformed or far in the future fails), and the challenge it builds parsed back to the same `acr_values` and
 * `max_age`, including a description with quotes and backslashes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkUserAuthentication, insufficientUserAuthentication, parseStepUpChallenge } from './step-up-challenge.ts';

const NOW = 1_800_000_000_000;
const LOA1 = 'urn:portcullis:loa:1';
const LOA2 = 'urn:portcullis:loa:2';
const LOA3 = 'urn:portcullis:loa:3';

describe('checkUserAuthentication', () => {
  it('meets a requirement at or below the held level, by rank', () => {
    for (const [acr, wanted, ok] of [
      [LOA2, [LOA2], true],
      [LOA3, [LOA2], true],
      [LOA1, [LOA2], false],
      [LOA1, [LOA3, LOA2], false],
      [LOA2, [LOA3, LOA2], true],
      ['urn:other:gold', ['urn:other:gold'], true],
      ['urn:other:gold', [LOA2], false],
      [LOA3, ['urn:other:gold'], false],
      [undefined, [LOA1], false],
      [2, [LOA1], false],
      ['', [LOA1], false],
    ] as const) {
      const check = checkUserAuthentication({ acr, auth_time: NOW / 1000 }, { acrValues: wanted }, { now: NOW });
      assert.equal(check.ok, ok, `${String(acr)} for ${wanted.join(' ')}`);
      if (!check.ok) assert.equal(check.reason, 'acr');
    }
  });

  it('judges auth_time against max_age: fresh passes; old, missing, malformed or far future fails', () => {
    const at = (authTime: unknown): boolean => checkUserAuthentication({ acr: LOA2, auth_time: authTime }, { acrValues: [LOA2], maxAge: 300 }, { now: NOW }).ok;
    assert.equal(at(NOW / 1000), true);
    assert.equal(at(NOW / 1000 - 300), true);
    assert.equal(at(NOW / 1000 - 301), false);
    assert.equal(at(NOW / 1000 + 30), true, 'within the clock tolerance');
    assert.equal(at(NOW / 1000 + 3600), false);
    assert.equal(at(undefined), false);
    assert.equal(at('1800000000'), false);
    assert.equal(at(Number.NaN), false);
    const old = checkUserAuthentication({ acr: LOA3, auth_time: NOW / 1000 - 1000 }, { acrValues: [LOA2], maxAge: 300 }, { now: NOW });
    assert.ok(!old.ok && old.reason === 'max_age');
  });

  it('no requirement is met by anything', () => {
    assert.deepEqual(checkUserAuthentication({}, {}, { now: NOW }), { ok: true });
  });
});

describe('the challenge', () => {
  it('is RFC 9470 §3 in form and parses back to the same acr_values and max_age', () => {
    const header = insufficientUserAuthentication({ acrValues: [LOA2, LOA3], maxAge: 300 }, 'need "MFA" \\ now');
    assert.equal(header, 'Bearer error="insufficient_user_authentication", error_description="need \\"MFA\\" \\\\ now", acr_values="urn:portcullis:loa:2 urn:portcullis:loa:3", max_age=300');
    assert.deepEqual(parseStepUpChallenge(header), { error: 'insufficient_user_authentication', errorDescription: 'need "MFA" \\ now', acrValues: `${LOA2} ${LOA3}`, maxAge: 300 });
    const check = checkUserAuthentication({ acr: LOA1, auth_time: NOW / 1000 }, { acrValues: [LOA2] }, { now: NOW });
    assert.ok(!check.ok);
    assert.equal(parseStepUpChallenge(check.challenge)?.acrValues, LOA2);
    assert.equal(parseStepUpChallenge(check.challenge)?.maxAge, null);
  });

  it('other challenges are not step-up challenges', () => {
    assert.equal(parseStepUpChallenge('Bearer error="invalid_token"'), null);
    assert.equal(parseStepUpChallenge('Basic realm="x"'), null);
    assert.equal(parseStepUpChallenge(null), null);
  });
});
