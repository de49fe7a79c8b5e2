import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { totpCode, totpStep, verifyTotp } from './totp.ts';

const secretArb = fc.uint8Array({ minLength: 16, maxLength: 64 }).map((bytes) => Buffer.from(bytes));
// From 1970 to 2286 (10^13 ms), in ms.
const nowArb = fc.integer({ min: 60_000, max: 9_999_999_999_999 });

test('for any secret and time, the current code verifies at the current step', () => {
  fc.assert(
    fc.property(secretArb, nowArb, (secret, now) => {
      const step = totpStep(now);
      assert.deepEqual(verifyTotp({ secret, code: totpCode(secret, step), now, lastStep: null }), { ok: true, step });
    }),
  );
});

test('for any secret and time, a code that differs from all three window codes is refused', () => {
  fc.assert(
    fc.property(secretArb, nowArb, fc.integer({ min: 0, max: 999_999 }), (secret, now, n) => {
      const step = totpStep(now);
      const window = new Set([step - 1, step, step + 1].map((s) => totpCode(secret, s)));
      // Walk from a random code to the next one outside the window (at most 3 of 10^6 are inside).
      let candidate = n;
      while (window.has(candidate.toString().padStart(6, '0'))) candidate = (candidate + 1) % 1_000_000;
      const code = candidate.toString().padStart(6, '0');
      assert.deepEqual(verifyTotp({ secret, code, now, lastStep: null }), { ok: false, reason: 'invalid' });
    }),
  );
});

test('for any secret and time, a code accepted once is refused once its step is stored', () => {
  fc.assert(
    fc.property(secretArb, nowArb, fc.integer({ min: -1, max: 1 }), (secret, now, offset) => {
      const step = totpStep(now) + offset;
      const code = totpCode(secret, step);
      const first = verifyTotp({ secret, code, now, lastStep: null });
      assert.equal(first.ok, true);
      if (!first.ok) return;
      const again = verifyTotp({ secret, code, now, lastStep: first.step });
      // A later window step may share this code by chance (about 1 in 10^6); then it is a genuine code of that step.
      if (again.ok) assert.ok(again.step > first.step);
      else assert.equal(again.reason, 'replayed');
    }),
  );
});
