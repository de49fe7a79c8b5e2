/**
 * Authenticator models under an allow-list (issue 15, DESIGN §4): a `packed` attestation with a certificate chain
 * is verified against the root certificates the operator configured (a PEM file read at start-up; nothing fetched at
 * sign-in), and only then is a listed model accepted. A chain from another root, and a model off the list even with
 * a good chain, are refused. The certificates are made here with @peculiar/x509 (a vendor root, and an attestation
 * certificate as WebAuthn §8.2.1 requires: version 3, OU "Authenticator Attestation", not a CA).
 */
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import assert from 'node:assert/strict';
import { createPrivateKey, sign, webcrypto, type JsonWebKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { webauthnConfigOf } from '../../src/config.ts';
import { useAttestationRoots } from '../../src/factors/webauthn-factor.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { challengeOfOptions, SoftCredential } from '../support/soft-authenticator.ts';
import { api, createAuthHarness, createClient, createTenant, createUser, expectError, passwordSignin, type TestClient } from './auth-support.ts';

const ALLOWED_MODEL = 'cb69481e-8ff7-4039-93ec-0a2729a154a8';
const OTHER_MODEL = 'ee882879-721c-4913-9775-3dfcce97072a';
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

interface Vendor {
  readonly rootPem: string;
  /** The attestation statement maker for SoftCredential.register. */
  attest(authData: Buffer, clientDataHash: Buffer): { fmt: string; attStmt: Map<string, unknown> };
}

/** A vendor: a root CA and one attestation certificate it issued, with the attestation key. */
async function makeVendor(name: string): Promise<Vendor> {
  x509.cryptoProvider.set(webcrypto as never);
  const now = Date.now();
  const validity = { notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 365 * 86_400_000) };
  const rootKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `C=US, O=${name}, CN=${name} Root CA`,
    ...validity,
    keys: rootKeys,
    signingAlgorithm: SIGNING,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const leafKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: `C=US, O=${name}, OU=Authenticator Attestation, CN=${name} Key`,
    issuer: root.subject,
    ...validity,
    publicKey: leafKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  const attestationKey = createPrivateKey({ key: (await webcrypto.subtle.exportKey('jwk', leafKeys.privateKey)) as JsonWebKey, format: 'jwk' });
  const leafDer = new Uint8Array(leaf.rawData);
  return {
    rootPem: root.toString('pem'),
    attest: (authData, clientDataHash) => ({
      fmt: 'packed',
      attStmt: new Map<string, unknown>([
        ['alg', -7],
        ['sig', new Uint8Array(sign('sha256', Buffer.concat([authData, clientDataHash]), attestationKey))],
        ['x5c', [leafDer]],
      ]),
    }),
  };
}

forEachDialect((dialect) => {
  describe(`packed attestation against the configured roots (${dialect})`, () => {
    let h: Harness;
    let client: TestClient;
    let trusted: Vendor;
    let stranger: Vendor;
    let dir: string;
    let n = 0;

    before(async () => {
      trusted = await makeVendor('Trusted Keys');
      stranger = await makeVendor('Unknown Keys');
      dir = mkdtempSync(join(tmpdir(), 'portcullis-roots-'));
      const rootFile = join(dir, 'roots.pem');
      writeFileSync(rootFile, trusted.rootPem);
      const webauthn = webauthnConfigOf({ attestationRoots: [rootFile], tenants: { attested: { aaguidAllow: [ALLOWED_MODEL] } } }, 'http://localhost', 'webauthn', []);
      // What the runtime does at start-up with the configured files.
      useAttestationRoots(webauthn.attestationRoots);
      h = await createAuthHarness(dialect, { webauthn });
      client = await createClient(h, 'bank');
      await createTenant(h, 'attested', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', acceptableFactors: 'phishing_resistant' });
    });
    after(async () => {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    });

    async function registration(aaguid: string) {
      const tenant = await h.store.tenants.findBySlug('attested');
      assert.ok(tenant !== null);
      const email = `key${(n += 1)}@attested.test`;
      const user = await createUser(h, tenant.id, email);
      const signin = await passwordSignin(h, client, 'attested', email, { ip: '192.0.2.10', deviceId: 'd', userAgent: 'attestation' });
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn', { mfaSessionId: signin.body.mfaSessionId });
      assert.equal(begun.body.options.attestation, 'direct', 'attestation is asked for under an allow-list');
      const key = new SoftCredential({ seed: `${dialect}-attested-${n}`, rpId: 'localhost', origin: 'http://localhost', userHandle: user.id, synced: false, aaguid });
      return { tenantId: tenant.id, userId: user.id, mfaSessionId: signin.body.mfaSessionId as string, challenge: challengeOfOptions(begun.body), key };
    }

    it('a listed model with a chain to the configured root is accepted, marked attested', async () => {
      const r = await registration(ALLOWED_MODEL);
      const res = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: r.key.register(r.challenge, {}, trusted.attest) });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.status, 'authenticated', res.text);
      const factor = await h.store.forTenant(r.tenantId).factors.get(res.body.factorId);
      assert.equal(factor?.data?.attested, true);
      assert.equal(factor?.data?.attestation, 'packed');
      assert.equal(factor?.data?.aaguid, ALLOWED_MODEL);
    });

    it('a chain to a root nobody configured is refused, and nothing is registered', async () => {
      const r = await registration(ALLOWED_MODEL);
      const res = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: r.key.register(r.challenge, {}, stranger.attest) });
      assert.ok(res.status === 400 || res.status === 403, res.text);
      assert.notEqual(res.body.status, 'authenticated');
      assert.deepEqual(await h.store.forTenant(r.tenantId).factors.listForUser(r.userId), []);
    });

    it('a model off the list is refused even with a good chain', async () => {
      const r = await registration(OTHER_MODEL);
      expectError(await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: r.mfaSessionId, credential: r.key.register(r.challenge, {}, trusted.attest) }), 403, 'MFA_FACTOR_NOT_ALLOWED');
      assert.deepEqual(await h.store.forTenant(r.tenantId).factors.listForUser(r.userId), []);
    });
  });
});
