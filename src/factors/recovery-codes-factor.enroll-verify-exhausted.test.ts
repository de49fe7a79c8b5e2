import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { FactorContext } from './factor.ts';
import { createSecretBox } from './secret-box.ts';
import { recoveryCodesFactor } from './recovery-codes-factor.ts';

const ctx: FactorContext = { now: 1_750_000_000_000, tenantId: 'tenant-a', userId: 'user-1', factorId: 'factor-rc', secrets: createSecretBox(randomBytes(32)) };

describe('recoveryCodesFactor behind the factor interface', () => {
  test('beginEnrollment: codes shown once, only hashes in the state to store; complete needs no proof', async () => {
    const { pending, display } = await recoveryCodesFactor.beginEnrollment(ctx, { count: 3 });
    assert.equal(recoveryCodesFactor.type, 'recovery_codes');
    assert.equal(display.codes.length, 3);
    assert.equal(pending.unused.length, 3);
    assert.equal(new Set(pending.unused.map((c) => c.id)).size, 3);
    for (const c of pending.unused) assert.match(c.hash, /^\$argon2id\$/);
    const stored = JSON.stringify(pending);
    for (const code of display.codes) assert.ok(!stored.toUpperCase().includes(code.replaceAll('-', '').toUpperCase()));
    assert.deepEqual(await recoveryCodesFactor.completeEnrollment(pending, null, ctx), { ok: true, newState: pending, commit: null });
    assert.equal(await recoveryCodesFactor.beginChallenge(pending, ctx), null);
  });

  test('verify: each code once; the id to consume; malformed, invalid, then exhausted', async () => {
    const { pending, display } = await recoveryCodesFactor.beginEnrollment(ctx, { count: 2 });
    const [a, b] = display.codes as [string, string];
    assert.deepEqual(await recoveryCodesFactor.verify(pending, 'nope', ctx), { ok: false, reason: 'malformed' });
    assert.deepEqual(await recoveryCodesFactor.verify(pending, '0000-0000-0000-0000', ctx), { ok: false, reason: 'invalid' });

    const first = await recoveryCodesFactor.verify(pending, a, ctx);
    assert.ok(first.ok);
    assert.equal(first.commit.codeId, pending.unused[0]?.id);
    assert.deepEqual(await recoveryCodesFactor.verify(first.newState, a, ctx), { ok: false, reason: 'invalid' });

    const second = await recoveryCodesFactor.verify(first.newState, b.toUpperCase(), ctx);
    assert.ok(second.ok);
    assert.equal(second.newState.unused.length, 0);
    assert.deepEqual(await recoveryCodesFactor.verify(second.newState, b, ctx), { ok: false, reason: 'exhausted' });
  });
});
