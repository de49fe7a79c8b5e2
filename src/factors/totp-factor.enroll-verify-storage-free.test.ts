import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { PortcullisError } from '../core/index.ts';
import type { FactorContext } from './factor.ts';
import { createSecretBox, secretAad } from './secret-box.ts';
import { base32Decode, totpCode, totpStep } from './totp.ts';
import { totpFactor } from './totp-factor.ts';

const secrets = createSecretBox(randomBytes(32));
const now = 1_750_000_000_000;
const ctx: FactorContext = { now, tenantId: 'tenant-a', userId: 'user-1', factorId: 'factor-1', secrets };

describe('totpFactor behind the factor interface', () => {
  test('beginEnrollment: a pending state with the secret sealed to the row, and the URI + QR shown once', async () => {
    const { pending, display } = await totpFactor.beginEnrollment(ctx, { issuer: 'Acme', account: 'ada@example.com' });
    assert.equal(totpFactor.type, 'totp');
    assert.equal(pending.lastStep, null);
    assert.match(pending.secretEnc, /^v1\./);
    const secret = secrets.open(pending.secretEnc, secretAad('tenant-a', 'factor-1'));
    assert.equal(secret.length, 20);
    assert.deepEqual(base32Decode(display.secret), secret);
    assert.ok(!pending.secretEnc.includes(display.secret), 'the stored state holds no clear secret');
    assert.equal(new URL(display.otpauthUri).searchParams.get('secret'), display.secret);
    assert.match(display.qrSvg, /^<svg/);
  });

  test('completeEnrollment: the first valid code gives the step to commit; a wrong one does not', async () => {
    const { pending, display } = await totpFactor.beginEnrollment(ctx, { issuer: 'Acme', account: 'ada@example.com' });
    const secret = base32Decode(display.secret) ?? Buffer.alloc(0);
    const step = totpStep(now);
    const wrong = totpCode(secret, step + 5);
    assert.deepEqual(await totpFactor.completeEnrollment(pending, wrong, ctx), { ok: false, reason: 'invalid' });
    assert.deepEqual(await totpFactor.completeEnrollment(pending, '12345', ctx), { ok: false, reason: 'malformed' });
    const done = await totpFactor.completeEnrollment(pending, totpCode(secret, step), ctx);
    assert.deepEqual(done, { ok: true, newState: { secretEnc: pending.secretEnc, lastStep: step }, commit: { step } });
  });

  test('verify: accepts once, then the persisted state refuses the same code (replayed)', async () => {
    const { pending, display } = await totpFactor.beginEnrollment(ctx, { issuer: 'Acme', account: 'ada@example.com' });
    const secret = base32Decode(display.secret) ?? Buffer.alloc(0);
    const code = totpCode(secret, totpStep(now));
    const first = await totpFactor.verify(pending, code, ctx);
    assert.ok(first.ok);
    assert.deepEqual(await totpFactor.verify(first.newState, code, ctx), { ok: false, reason: 'replayed' });
    assert.equal(await totpFactor.beginChallenge(first.newState, ctx), null);
  });

  test('a stored secret moved to another factor row or tenant does not open', async () => {
    const { pending } = await totpFactor.beginEnrollment(ctx, { issuer: 'Acme', account: 'ada@example.com' });
    for (const other of [{ ...ctx, factorId: 'factor-2' }, { ...ctx, tenantId: 'tenant-b' }]) {
      await assert.rejects(totpFactor.verify(pending, '123456', other), (e: unknown) => e instanceof PortcullisError && e.code === 'SECRET_UNREADABLE');
    }
  });
});
