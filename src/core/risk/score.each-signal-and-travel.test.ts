/**
 * The pure scoring (src/core/risk/score.ts), table-driven: from a quiet baseline (an established user on a known
 * device and network, last seen in London a day ago), each fact changed alone raises exactly its signal with its
 * weight; travel is judged on the distance beyond both accuracy radii; the cold-start rule and network classes
 * withhold the geographic signals; per-tenant weights replace the built-in points.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DAY_MS } from '../time.ts';
import { greatCircleKm, type GeoPoint } from './geo.ts';
import { DEFAULT_RISK_SETTINGS, DEFAULT_RISK_WEIGHTS, scoreRisk, travelBetween, weightsWith, type RiskFacts } from './score.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const LONDON: GeoPoint = { country: 'GB', city: 'London', latitude: 51.5074, longitude: -0.1278, accuracyKm: null };
const MANCHESTER: GeoPoint = { country: 'GB', city: 'Manchester', latitude: 53.4808, longitude: -2.2426, accuracyKm: null };
const PARIS: GeoPoint = { country: 'FR', city: 'Paris', latitude: 48.8566, longitude: 2.3522, accuracyKm: null };
const SYDNEY: GeoPoint = { country: 'AU', city: 'Sydney', latitude: -33.8688, longitude: 151.2093, accuracyKm: null };

const QUIET: RiskFacts = {
  device: 'known',
  network: 'known',
  ipUnparsable: null,
  networkClass: null,
  denyListed: null,
  location: LONDON,
  anySuccess: true,
  countrySeen: true,
  citySeen: true,
  lastSuccessAt: NOW - DAY_MS,
  lastLocated: { at: NOW - DAY_MS, point: LONDON },
  failuresByDevice: 0,
  failuresByIp: 0,
};

const score = (facts: Partial<RiskFacts>): ReturnType<typeof scoreRisk> => scoreRisk({ ...QUIET, ...facts }, DEFAULT_RISK_WEIGHTS, DEFAULT_RISK_SETTINGS, NOW);

describe('each signal alone', () => {
  test('the quiet baseline scores 0 with no signal', () => {
    assert.deepEqual(score({}), { status: 'ok', score: 0, signals: [] });
  });

  const cases: [string, Partial<RiskFacts>, string, number][] = [
    ['a device with no MFA on it', { device: 'new' }, 'new_device', 20],
    ['a request without a device id', { device: 'unidentified' }, 'new_device', 20],
    ['an address with no MFA from it', { network: 'new' }, 'new_ip', 10],
    ['a country never signed in from', { location: PARIS, countrySeen: false, citySeen: false, lastLocated: { at: NOW - 3 * DAY_MS, point: LONDON } }, 'new_country', 25],
    ['a city never signed in from, in a known country', { location: MANCHESTER, citySeen: false }, 'new_city', 10],
    ['a deny-listed address', { denyListed: 'tor-exits.txt' }, 'ip_reputation', 80],
    ['5 failed sign-ins from the device in the window', { failuresByDevice: 5 }, 'failed_attempts_device', 30],
    ['5 failed sign-ins from the address in the window', { failuresByIp: 5 }, 'failed_attempts_ip', 30],
    ['no successful sign-in for 90 days', { lastSuccessAt: NOW - 90 * DAY_MS, lastLocated: { at: NOW - 90 * DAY_MS, point: LONDON } }, 'long_inactivity', 30],
    ['an unparsable client address', { ipUnparsable: 'X-Forwarded-For from a trusted proxy carries an entry that is not an IP address' }, 'ip_unparsable', 30],
    ['a configured network class', { networkClass: 'vpn' }, 'network_class', 0],
  ];
  for (const [what, facts, code, weight] of cases) {
    test(`${what} → ${code} +${weight}`, () => {
      const result = score(facts);
      assert.deepEqual(result.signals.map((s) => [s.code, s.weight]), [[code, weight]]);
      assert.equal(result.score, weight);
    });
  }

  test('4 failures are below the threshold: no velocity signal', () => {
    assert.equal(score({ failuresByDevice: 4, failuresByIp: 4 }).score, 0);
  });
});

describe('impossible travel', () => {
  const londonHalfHourAgo = { at: NOW - 30 * 60_000, point: LONDON };

  test('London then Sydney 30 minutes later: ~17,000 km at ~34,000 km/h, with the previous location and speed in the detail', () => {
    const result = score({ location: SYDNEY, lastLocated: londonHalfHourAgo });
    const travel = result.signals.find((s) => s.code === 'impossible_travel');
    assert.ok(travel !== undefined, JSON.stringify(result));
    assert.equal(travel.weight, 60);
    assert.match(travel.detail ?? '', /^from London, GB \(51\.51, -0\.13\) 30 min earlier to Sydney, AU \(-33\.87, 151\.21\): 169\d\d km \(169\d\d km beyond accuracy radii\), 3[34]\d{3} km\/h > 1000 km\/h$/);
  });

  test('London then Sydney with 1000 km accuracy radii each: still impossible, the radii taken off the distance', () => {
    const result = score({ location: { ...SYDNEY, accuracyKm: 1000 }, lastLocated: { at: londonHalfHourAgo.at, point: { ...LONDON, accuracyKm: 1000 } } });
    const travel = result.signals.find((s) => s.code === 'impossible_travel');
    assert.match(travel?.detail ?? '', /169\d\d km \(149\d\d km beyond accuracy radii\), 29\d{3} km\/h/);
  });

  test('London then Paris in 15 minutes: impossible as points, explained by 100 km accuracy radii', () => {
    const last = { at: NOW - 15 * 60_000, point: LONDON };
    const bare = travelBetween(last, PARIS, NOW);
    assert.ok(bare.speedKmh > 1000, String(bare.speedKmh));
    assert.ok(score({ location: PARIS, countrySeen: true, citySeen: true, lastLocated: last }).signals.some((s) => s.code === 'impossible_travel'));
    const wide = { at: last.at, point: { ...LONDON, accuracyKm: 100 } };
    const radius = travelBetween(wide, { ...PARIS, accuracyKm: 100 }, NOW);
    assert.ok(radius.speedKmh < 1000 && radius.speedKmh > 0, String(radius.speedKmh));
    assert.deepEqual(score({ location: { ...PARIS, accuracyKm: 100 }, countrySeen: true, citySeen: true, lastLocated: wide }).signals, []);
  });

  test('the great-circle distance London–Sydney is 16,990 ± 20 km', () => {
    assert.ok(Math.abs(greatCircleKm(LONDON, SYDNEY) - 16_990) < 20);
  });

  test('simultaneous sign-ins apart beyond the radii are infinitely fast; the same place is speed 0', () => {
    assert.equal(travelBetween({ at: NOW, point: LONDON }, PARIS, NOW).speedKmh, Number.POSITIVE_INFINITY);
    assert.equal(travelBetween({ at: NOW, point: LONDON }, LONDON, NOW).speedKmh, 0);
  });

  test('a configured network class (a VPN exit in Sydney) raises no country, city or travel signal', () => {
    const result = score({ location: SYDNEY, countrySeen: false, citySeen: false, lastLocated: londonHalfHourAgo, networkClass: 'vpn' });
    assert.deepEqual(result.signals.map((s) => s.code), ['network_class']);
  });
});

describe('cold start and weights', () => {
  test('no successful sign-in: cold_start stands in for country, city, travel and inactivity', () => {
    const result = score({ anySuccess: false, device: 'new', network: 'new', countrySeen: false, citySeen: false, lastSuccessAt: null, lastLocated: null, location: SYDNEY });
    assert.deepEqual(result.signals.map((s) => [s.code, s.weight]), [['new_device', 20], ['new_ip', 10], ['cold_start', 10]]);
    assert.equal(result.score, 40);
  });

  test('per-tenant weights replace the built-in points; the score caps at 100', () => {
    const weights = weightsWith({ new_city: 45, ip_reputation: 100 });
    assert.equal(scoreRisk({ ...QUIET, location: MANCHESTER, citySeen: false }, weights, DEFAULT_RISK_SETTINGS, NOW).score, 45);
    assert.equal(scoreRisk({ ...QUIET, denyListed: 'x', failuresByIp: 9 }, weights, DEFAULT_RISK_SETTINGS, NOW).score, 100);
    assert.equal(weightsWith(undefined), DEFAULT_RISK_WEIGHTS);
  });
});
