import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DAY_MS } from '../time.ts';
import { floorsFor } from './floors.ts';
import { DEFAULT_POLICY, POLICY_FIELDS, type PolicyField, type PolicyLayer } from './model.ts';
import {
  describeSource,
  indexPolicyLayers,
  raisePolicy,
  resolvePolicy,
  selectLayers,
  versionInForce,
  type LayerInput,
  type PolicySource,
  type PolicyVersion,
  type ScopedLayer,
} from './resolve.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const LONG_AGO = NOW - 365 * DAY_MS;
const FIRST_PARTY = floorsFor({ firstParty: true });
const REQUEST: PolicySource = { level: 'request', name: 'acr_values', version: null };

/** One layer with a single version in force since long ago. */
function layer(level: LayerInput['level'], name: string, fields: PolicyLayer, version = 1): LayerInput {
  return { level, name, versions: [{ version, effectiveAt: LONG_AGO, layer: fields }] };
}

function source(level: PolicySource['level'], name: string, version: number | null): PolicySource {
  return { level, name, version };
}

const DEFAULT = source('default', '', null);

describe('layering: defaults → application → tenant → tenant×application', () => {
  test('with no layer, every field is the default and comes from the defaults', () => {
    const resolved = resolvePolicy([], [], NOW);
    assert.deepEqual(resolved.values, DEFAULT_POLICY);
    for (const field of POLICY_FIELDS) assert.deepEqual(resolved.sources[field], DEFAULT, field);
    assert.deepEqual(resolved.versions, []);
    assert.equal(resolved.changedAt, null);
    assert.deepEqual(resolved.floors, []);
  });

  test('the most specific layer that sets a field wins, field by field, and every field names its layer', () => {
    const resolved = resolvePolicy(
      [
        layer('application', 'bank', { challenge: 'never', gracePeriodDays: 7, totpIssuer: 'Bank', enrollment: 'optional' }, 4),
        layer('tenant', 'acme', { challenge: 'adaptive', enrollment: 'required', strength: 'enhanced' }, 2),
        layer('tenant_application', 'acme × bank', { challenge: 'always', minFactors: 2 }, 7),
      ],
      [],
      NOW,
    );
    const app = source('application', 'bank', 4);
    const tenant = source('tenant', 'acme', 2);
    const both = source('tenant_application', 'acme × bank', 7);
    const expected: Partial<Record<PolicyField, [unknown, PolicySource]>> = {
      challenge: ['always', both],
      minFactors: [2, both],
      enrollment: ['required', tenant],
      strength: ['enhanced', tenant],
      gracePeriodDays: [7, app],
      totpIssuer: ['Bank', app],
    };
    for (const field of POLICY_FIELDS) {
      const [value, from] = expected[field] ?? [DEFAULT_POLICY[field], DEFAULT];
      assert.deepEqual(resolved.values[field], value, `value of ${field}`);
      assert.deepEqual(resolved.sources[field], from, `source of ${field}`);
    }
    assert.deepEqual(resolved.versions, [app, tenant, both]);
    assert.equal(describeSource(resolved.sources.challenge), 'tenant×application "acme × bank" v7');
    assert.equal(describeSource(resolved.sources.enrollment), 'tenant "acme" v2');
    assert.equal(describeSource(resolved.sources.risk), 'default');
  });

  test('a layer that sets a field to the default value still owns that field', () => {
    const resolved = resolvePolicy([layer('application', 'bank', { challenge: 'always' }), layer('tenant', 'acme', { challenge: 'adaptive' })], [], NOW);
    assert.equal(resolved.values.challenge, 'adaptive');
    assert.deepEqual(resolved.sources.challenge, source('tenant', 'acme', 1));
  });

  test('object fields are taken whole from the most specific layer that sets them (no deep merge)', () => {
    const resolved = resolvePolicy(
      [
        layer('application', 'bank', { stepUp: { defaultMaxAgeSeconds: 120, actions: { payment: 60 } } }),
        layer('tenant', 'acme', { stepUp: { defaultMaxAgeSeconds: 600, actions: { 'data-export': 30 } } }),
      ],
      [],
      NOW,
    );
    assert.deepEqual(resolved.values.stepUp, { defaultMaxAgeSeconds: 600, actions: { 'data-export': 30 } });
    assert.equal(resolved.sources.stepUp.level, 'tenant');
  });

  test('Wristband: a tenant overrides the application policy, and a tenant×application layer overrides both', () => {
    const app = layer('application', 'wristband-app', { enrollment: 'optional', challenge: 'never', allowedFactors: ['totp', 'email_otp'] });
    const tenant = layer('tenant', 'globex', { enrollment: 'required', challenge: 'always' }, 3);
    const onlyTenant = resolvePolicy([app, tenant], [], NOW);
    assert.equal(onlyTenant.values.enrollment, 'required');
    assert.equal(onlyTenant.values.challenge, 'always');
    assert.deepEqual(onlyTenant.sources.challenge, source('tenant', 'globex', 3));
    // Fields the tenant does not set are inherited from the application.
    assert.deepEqual(onlyTenant.values.allowedFactors, ['totp', 'email_otp']);
    assert.deepEqual(onlyTenant.sources.allowedFactors, source('application', 'wristband-app', 1));

    const withOverride = resolvePolicy([app, tenant, layer('tenant_application', 'globex × wristband-app', { challenge: 'adaptive' })], [], NOW);
    assert.equal(withOverride.values.challenge, 'adaptive');
    assert.equal(withOverride.values.enrollment, 'required');
    assert.equal(withOverride.sources.challenge.level, 'tenant_application');
  });
});

describe('versions: the newest version in force at now', () => {
  const versions: PolicyVersion[] = [
    { version: 1, effectiveAt: LONG_AGO, layer: { challenge: 'never' } },
    { version: 2, effectiveAt: NOW - DAY_MS, layer: { challenge: 'adaptive' } },
    // Announced tightening: saved now, in force next week.
    { version: 3, effectiveAt: NOW + 7 * DAY_MS, layer: { challenge: 'always', enrollment: 'required' } },
  ];
  const tenant: LayerInput = { level: 'tenant', name: 'acme', versions };

  test('the newest version already in force is used; a future effectiveAt is ignored until it comes', () => {
    const resolved = resolvePolicy([tenant], [], NOW);
    assert.equal(resolved.values.challenge, 'adaptive');
    assert.equal(resolved.values.enrollment, 'optional');
    assert.deepEqual(resolved.sources.challenge, source('tenant', 'acme', 2));
    assert.equal(resolved.changedAt, NOW - DAY_MS);
  });

  test('the announced tightening applies from its effectiveAt exactly, not a millisecond before', () => {
    const at = NOW + 7 * DAY_MS;
    assert.equal(resolvePolicy([tenant], [], at - 1).values.challenge, 'adaptive');
    const resolved = resolvePolicy([tenant], [], at);
    assert.equal(resolved.values.challenge, 'always');
    assert.equal(resolved.values.enrollment, 'required');
    assert.deepEqual(resolved.sources.enrollment, source('tenant', 'acme', 3));
    assert.equal(resolved.changedAt, at);
  });

  test('the order versions are listed in does not matter', () => {
    const shuffled: LayerInput = { ...tenant, versions: [versions[2], versions[0], versions[1]] as PolicyVersion[] };
    assert.deepEqual(resolvePolicy([shuffled], [], NOW), resolvePolicy([tenant], [], NOW));
  });

  test('a layer with no version in force yet contributes nothing (not even to versions or changedAt)', () => {
    const future: LayerInput = { level: 'tenant', name: 'acme', versions: [{ version: 1, effectiveAt: NOW + 1, layer: { challenge: 'always' } }] };
    const resolved = resolvePolicy([layer('application', 'bank', { challenge: 'never' }), future], [], NOW);
    assert.equal(resolved.values.challenge, 'never');
    assert.deepEqual(resolved.versions, [source('application', 'bank', 1)]);
    assert.equal(resolved.changedAt, LONG_AGO);
  });

  test('an expired per-user override is ignored; in force until its expiry, exclusive', () => {
    const expiresAt = NOW + 60_000;
    const user: LayerInput = { level: 'user', name: 'alice', versions: [{ version: 1, effectiveAt: NOW - DAY_MS, expiresAt, layer: { enrollment: 'optional' } }] };
    const base = layer('tenant', 'acme', { enrollment: 'required' });
    const before = resolvePolicy([base, user], [], expiresAt - 1);
    assert.equal(before.values.enrollment, 'optional');
    assert.deepEqual(before.sources.enrollment, source('user', 'alice', 1));
    const after = resolvePolicy([base, user], [], expiresAt);
    assert.equal(after.values.enrollment, 'required');
    assert.deepEqual(after.sources.enrollment, source('tenant', 'acme', 1));
    assert.equal(versionInForce(user.versions, expiresAt + DAY_MS), null);
  });

  test('an expired newer version falls back to the newest one still in force', () => {
    const v: PolicyVersion[] = [
      { version: 1, effectiveAt: LONG_AGO, layer: { gracePeriodDays: 3 } },
      { version: 2, effectiveAt: NOW - DAY_MS, expiresAt: NOW - 1, layer: { gracePeriodDays: 30 } },
    ];
    assert.equal(versionInForce(v, NOW)?.version, 1);
    assert.equal(resolvePolicy([{ level: 'user', name: 'alice', versions: v }], [], NOW).values.gracePeriodDays, 3);
  });
});

describe('floors: applied last, never weakened', () => {
  test('the first-party floor beats a tenant challenge=never and enrollment=optional', () => {
    const resolved = resolvePolicy(
      [
        layer('application', 'console', { challenge: 'never' }),
        layer('tenant', 'acme', { challenge: 'never', enrollment: 'optional' }),
        layer('tenant_application', 'acme × console', { challenge: 'never', enrollment: 'optional' }),
      ],
      FIRST_PARTY,
      NOW,
    );
    assert.equal(resolved.values.enrollment, 'required');
    assert.equal(resolved.values.challenge, 'always');
    assert.deepEqual(resolved.sources.enrollment, source('floor', 'first-party', null));
    assert.deepEqual(resolved.sources.challenge, source('floor', 'first-party', null));
    assert.equal(describeSource(resolved.sources.challenge), 'floor "first-party"');
    assert.deepEqual(resolved.floors, ['first-party']);
  });

  test('a floor leaves a field alone when a layer is already at least as strict (the layer keeps the credit)', () => {
    const resolved = resolvePolicy([layer('tenant', 'acme', { challenge: 'always', enrollment: 'required' })], FIRST_PARTY, NOW);
    assert.equal(resolved.values.challenge, 'always');
    assert.deepEqual(resolved.sources.challenge, source('tenant', 'acme', 1));
    assert.deepEqual(resolved.floors, ['first-party']);
  });

  test('a per-user override cannot lift the first-party floor either', () => {
    const user: LayerInput = { level: 'user', name: 'alice', versions: [{ version: 1, effectiveAt: LONG_AGO, expiresAt: NOW + DAY_MS, layer: { enrollment: 'optional', challenge: 'never' } }] };
    const resolved = resolvePolicy([user], FIRST_PARTY, NOW);
    assert.equal(resolved.values.enrollment, 'required');
    assert.equal(resolved.values.challenge, 'always');
  });

  test('a third-party application has no floor', () => {
    assert.deepEqual(floorsFor({ firstParty: false }), []);
    const resolved = resolvePolicy([layer('tenant', 'acme', { challenge: 'never' })], floorsFor({ firstParty: false }), NOW);
    assert.equal(resolved.values.challenge, 'never');
  });
});

describe('raisePolicy: request parameters only raise', () => {
  const base = resolvePolicy([layer('tenant', 'acme', { challenge: 'always', acceptableFactors: 'totp_webauthn', enrollment: 'required', gracePeriodDays: 7, minFactors: 2 })], [], NOW);

  test('an acr-style request of a weaker value changes nothing, not even the source', () => {
    const weaker: PolicyLayer = {
      challenge: 'never',
      enrollment: 'optional',
      acceptableFactors: 'any',
      strength: 'baseline',
      gracePeriodDays: 30,
      minFactors: 1,
      trustedDeviceDays: 365,
      risk: { challengeAt: 90, blockAt: 100 },
      stepUp: { defaultMaxAgeSeconds: 86_400, actions: { payment: 86_400 } },
      downgradeProtection: false,
      forceReenrollOnChange: false,
    };
    const raised = raisePolicy(base, weaker, REQUEST);
    assert.deepEqual(raised.values, base.values);
    assert.deepEqual(raised.sources, base.sources);
  });

  test('a stronger request raises the field and is named as its source', () => {
    const raised = raisePolicy(base, { acceptableFactors: 'phishing_resistant', strength: 'enhanced' }, REQUEST);
    assert.equal(raised.values.acceptableFactors, 'phishing_resistant');
    assert.equal(raised.values.strength, 'enhanced');
    assert.deepEqual(raised.sources.acceptableFactors, REQUEST);
    assert.deepEqual(raised.sources.challenge, source('tenant', 'acme', 1));
  });

  test('with several requested values the strongest wins, in whatever order they come', () => {
    const requests: PolicyLayer[] = [{ acceptableFactors: 'phishing_resistant' }, { acceptableFactors: 'any' }, { acceptableFactors: 'totp_webauthn' }];
    const orders = [requests, [...requests].reverse(), [requests[1], requests[0], requests[2]] as PolicyLayer[]];
    for (const order of orders) {
      const raised = order.reduce((p, r) => raisePolicy(p, r, REQUEST), base);
      assert.equal(raised.values.acceptableFactors, 'phishing_resistant');
    }
    const mode = [{ challenge: 'adaptive' }, { challenge: 'never' }] as PolicyLayer[];
    const loose = resolvePolicy([layer('tenant', 'acme', { challenge: 'never' })], [], NOW);
    assert.equal(mode.reduce((p, r) => raisePolicy(p, r, REQUEST), loose).values.challenge, 'adaptive');
  });

  test('a requested max age can only shorten step-up windows', () => {
    const shorter = raisePolicy(base, { stepUp: { defaultMaxAgeSeconds: 60, actions: { payment: 30 } } }, REQUEST);
    assert.equal(shorter.values.stepUp.defaultMaxAgeSeconds, 60);
    assert.equal(shorter.values.stepUp.actions.payment, 30);
    const longer = raisePolicy(base, { stepUp: { defaultMaxAgeSeconds: 3600, actions: { payment: 3600 } } }, REQUEST);
    assert.deepEqual(longer.values.stepUp, base.values.stepUp);
  });

  test('numeric requirements move only towards strict: shorter grace, more factors, lower thresholds', () => {
    const raised = raisePolicy(base, { gracePeriodDays: 0, minFactors: 3, risk: { challengeAt: 10, blockAt: 90 }, trustedDeviceDays: 1 }, REQUEST);
    assert.equal(raised.values.gracePeriodDays, 0);
    assert.equal(raised.values.minFactors, 3);
    assert.deepEqual(raised.values.risk, { challengeAt: 10, blockAt: 80 });
    assert.equal(raised.values.trustedDeviceDays, 1);
  });

  test('a request cannot add an exempt role', () => {
    const exempting = resolvePolicy([layer('tenant', 'acme', { exemptRoles: ['break-glass'] })], [], NOW);
    assert.deepEqual(raisePolicy(exempting, { exemptRoles: ['break-glass', 'everyone'] }, REQUEST).values.exemptRoles, ['break-glass']);
    assert.deepEqual(raisePolicy(exempting, { exemptRoles: [] }, REQUEST).values.exemptRoles, []);
  });
});

describe('indexPolicyLayers / selectLayers among many tenants', () => {
  const versions = (fields: PolicyLayer): PolicyVersion[] => [{ version: 1, effectiveAt: LONG_AGO, layer: fields }];
  const all: ScopedLayer[] = [{ scope: { level: 'application', applicationId: 'app_bank' }, name: 'bank', versions: versions({ challenge: 'never' }) }];
  all.push({ scope: { level: 'application', applicationId: 'app_shop' }, name: 'shop', versions: versions({ challenge: 'adaptive' }) });
  for (let i = 0; i < 500; i++) {
    all.push({ scope: { level: 'tenant', tenantId: `t${i}` }, name: `tenant-${i}`, versions: versions({ gracePeriodDays: i % 31 }) });
    if (i % 2 === 0) {
      all.push({ scope: { level: 'tenant_application', tenantId: `t${i}`, applicationId: 'app_bank' }, name: `tenant-${i} × bank`, versions: versions({ minFactors: 1 + (i % 3) }) });
    }
  }
  const index = indexPolicyLayers(all);

  test('picks the application, the tenant and the tenant×application layer, least specific first', () => {
    const layers = selectLayers(index, 't42', 'app_bank');
    assert.deepEqual(layers.map((l) => [l.level, l.name]), [
      ['application', 'bank'],
      ['tenant', 'tenant-42'],
      ['tenant_application', 'tenant-42 × bank'],
    ]);
    const resolved = resolvePolicy(layers, [], NOW);
    assert.equal(resolved.values.gracePeriodDays, 42 % 31);
    assert.equal(resolved.values.minFactors, 1 + (42 % 3));
    assert.equal(resolved.values.challenge, 'never');
  });

  test('never mixes in another tenant\'s layers or another application\'s', () => {
    assert.deepEqual(selectLayers(index, 't43', 'app_bank').map((l) => l.name), ['bank', 'tenant-43']);
    assert.deepEqual(selectLayers(index, 't42', 'app_shop').map((l) => l.name), ['shop', 'tenant-42']);
    assert.deepEqual(selectLayers(index, 'unknown', 'app_bank').map((l) => l.name), ['bank']);
    assert.deepEqual(selectLayers(index, 'unknown', 'unknown'), []);
    for (const id of ['t0', 't7', 't250', 't499']) {
      const names = selectLayers(index, id, 'app_bank').map((l) => l.name);
      assert.ok(names.every((n) => n === 'bank' || n.startsWith(`tenant-${id.slice(1)}`)), `${id}: ${names.join(', ')}`);
      assert.ok(names.includes(`tenant-${id.slice(1)}`));
    }
  });

  test('a later layer with the same scope replaces an earlier one', () => {
    const replaced = indexPolicyLayers([
      { scope: { level: 'tenant', tenantId: 't1' }, name: 'old', versions: versions({ challenge: 'never' }) },
      { scope: { level: 'tenant', tenantId: 't1' }, name: 'new', versions: versions({ challenge: 'always' }) },
    ]);
    assert.deepEqual(selectLayers(replaced, 't1', 'app').map((l) => l.name), ['new']);
  });
});
