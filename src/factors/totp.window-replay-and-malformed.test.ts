import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { totpCode, verifyTotp } from './totp.ts';

const secret = Buffer.from('12345678901234567890', 'ascii');
const STEP = 1_000_000;
/** The middle of step `STEP`, epoch ms. */
const now = STEP * 30_000 + 15_000;
const codeAt = (step: number): string => totpCode(secret, step);

describe('verifyTotp: current step ±1, not ±2', () => {
  for (const offset of [-1, 0, 1]) {
    test(`a code of step ${offset >= 0 ? '+' : ''}${offset} is accepted and its step returned`, () => {
      assert.deepEqual(verifyTotp({ secret, code: codeAt(STEP + offset), now, lastStep: null }), { ok: true, step: STEP + offset });
    });
  }
  for (const offset of [-3, -2, 2, 3]) {
    test(`a code of step ${offset >= 0 ? '+' : ''}${offset} is invalid`, () => {
      assert.deepEqual(verifyTotp({ secret, code: codeAt(STEP + offset), now, lastStep: null }), { ok: false, reason: 'invalid' });
    });
  }
  test('window 0 accepts only the current step', () => {
    assert.equal(verifyTotp({ secret, code: codeAt(STEP), now, lastStep: null, window: 0 }).ok, true);
    assert.deepEqual(verifyTotp({ secret, code: codeAt(STEP - 1), now, lastStep: null, window: 0 }), { ok: false, reason: 'invalid' });
  });
  test('step boundaries: the last millisecond of a step and the first of the next', () => {
    const lastMsOfStep = (STEP + 1) * 30_000 - 1;
    assert.deepEqual(verifyTotp({ secret, code: codeAt(STEP - 1), now: lastMsOfStep, lastStep: null }), { ok: true, step: STEP - 1 });
    assert.deepEqual(verifyTotp({ secret, code: codeAt(STEP - 1), now: lastMsOfStep + 1, lastStep: null }), { ok: false, reason: 'invalid' });
  });
});

describe('verifyTotp: replay refused', () => {
  test('the same code again, once its step is stored as lastStep, is replayed', () => {
    const first = verifyTotp({ secret, code: codeAt(STEP), now, lastStep: null });
    assert.ok(first.ok);
    assert.deepEqual(verifyTotp({ secret, code: codeAt(STEP), now, lastStep: first.step }), { ok: false, reason: 'replayed' });
  });
  test('an earlier step in the window is refused after a later one was used', () => {
    assert.deepEqual(verifyTotp({ secret, code: codeAt(STEP - 1), now, lastStep: STEP }), { ok: false, reason: 'replayed' });
  });
  test('a later step in the window is still accepted after an earlier one', () => {
    assert.deepEqual(verifyTotp({ secret, code: codeAt(STEP + 1), now, lastStep: STEP }), { ok: true, step: STEP + 1 });
  });
  test('with lastStep beyond the window, every window code is replayed', () => {
    for (const offset of [-1, 0, 1]) {
      assert.deepEqual(verifyTotp({ secret, code: codeAt(STEP + offset), now, lastStep: STEP + 1 }), { ok: false, reason: 'replayed' });
    }
  });
});

describe('verifyTotp: anything but six ASCII digits is malformed, never a throw', () => {
  const good = codeAt(STEP);
  const cases: readonly [string, unknown][] = [
    ['empty string', ''],
    ['null', null],
    ['undefined', undefined],
    ['a number', Number(good)],
    ['five digits', good.slice(0, 5)],
    ['seven digits', `${good}0`],
    ['Arabic-Indic digits', '٠١٢٣٤٥'],
    ['full-width digits', '０１２３４５'],
    ['surrounding spaces', ` ${good} `],
    ['a trailing newline', `${good}\n`],
    ['an array', [good]],
    ['an object', { code: good }],
    ['letters', 'abcdef'],
    ['10 MB of digits', '1'.repeat(10 * 1024 * 1024)],
  ];
  for (const [name, code] of cases) {
    test(name, () => {
      assert.deepEqual(verifyTotp({ secret, code, now, lastStep: null }), { ok: false, reason: 'malformed' });
    });
  }
});
