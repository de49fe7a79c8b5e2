import type { FactorType } from '../core/index.ts';
import type { ResultSigner } from './signing-keys.ts';
import type { Store } from '../store/index.ts';
import type { RiskEngine } from '../risk/engine.ts';
import type { WebauthnConfig } from '../config.ts';

/** Encrypts secrets at rest (AES-256-GCM; src/factors/secret-box.ts). `aad` binds a sealed secret to its row. */
export interface SecretSealer {
  seal(plaintext: Buffer, aad: string): string;
  open(sealed: string, aad: string): Buffer;
}

/** The logging surface services use (a pino logger satisfies it). Never pass a secret. */
export interface ServiceLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * What every service needs. The clock is injected so that tests can stand at the exact second a grace window
 * ends; nothing below reads `Date.now()` directly.
 */
export interface ServiceDeps {
  readonly store: Store;
  readonly secrets: SecretSealer;
  readonly now: () => number;
  readonly logger: ServiceLogger;
  /**
   * The factor types this deployment delivers (`DELIVERABLE_FACTOR_TYPES` of src/factors): enrollment options are
   * narrowed to them, and policy saves and previews warn about types outside them.
   */
  readonly deliverableFactors: ReadonlySet<FactorType>;
  /** Signs the authenticated answer's `result`; without it (some unit tests) `result` is null. */
  readonly results?: Pick<ResultSigner, 'signResult'>;
  /**
   * Collects the risk signals (GeoIP, deny lists, network classes, time budget from configuration). Without it
   * (embedders, unit tests) an engine with no GeoIP and no lists is used: device, network, velocity, inactivity.
   */
  readonly risk?: RiskEngine;
  /** Passkeys: relying party, origins and authenticator models (default: RP `localhost`, src/services/webauthn-settings.ts). */
  readonly webauthn?: WebauthnConfig;
}

/** Who performs an administrative change, as recorded in audit (`admin:<tokenId>`). */
export interface AdminActor {
  readonly tokenId: string;
  /** `null` for a platform-wide admin. */
  readonly tenantId: string | null;
}

export function actorOf(admin: AdminActor): string {
  return `admin:${admin.tokenId}`;
}
