/**
 * oidc-provider's storage adapter on our database: one class per model name over {@link OidcPayloadRepository}
 * (Kysely; SQLite and PostgreSQL alike), and the `Client` model answered from our applications.
 *
 * Single use is the database's: `consume` is one conditional update, and losing it throws `invalid_grant`, so two
 * concurrent exchanges of one authorization code (or rotations of one refresh token) cannot both succeed — the
 * provider itself checks `consumed` and then writes it (read-then-write; SECURITY rule 2 asks for one write).
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { OidcPayloadRepository } from '../../store/index.ts';

/** Loads the client metadata of an application by client id (null: not an OIDC client). */
export type ClientLoader = (clientId: string) => Promise<AdapterPayload | null>;

/**
 * The adapter factory for the provider's `adapter` option.
 *
 * @example
 * new Provider(issuer, { adapter: adapterFactory(payloads, loadClient, Date.now) });
 */
export function adapterFactory(payloads: OidcPayloadRepository, loadClient: ClientLoader, now: () => number): (name: string) => Adapter {
  return (model: string): Adapter => {
    const view = (found: { payload: Record<string, unknown>; consumedAt: number | null } | null): AdapterPayload | undefined => {
      if (found === null) return undefined;
      const payload = found.payload as AdapterPayload;
      return found.consumedAt === null ? payload : { ...payload, consumed: Math.floor(found.consumedAt / 1000) };
    };
    if (model === 'Client') {
      return {
        upsert: () => Promise.reject(new Error('clients are registered through the admin API')),
        find: async (id) => (await loadClient(id)) ?? undefined,
        findByUserCode: () => Promise.resolve(undefined),
        findByUid: () => Promise.resolve(undefined),
        consume: () => Promise.resolve(undefined),
        destroy: () => Promise.resolve(undefined),
        revokeByGrantId: () => Promise.resolve(undefined),
      };
    }
    return {
      async upsert(id, payload, expiresIn) {
        await payloads.upsert(model, id, payload as Record<string, unknown>, typeof expiresIn === 'number' ? now() + expiresIn * 1000 : null);
      },
      find: async (id) => view(await payloads.find(model, id, now())),
      findByUid: async (uid) => view(await payloads.findByUid(model, uid, now())),
      findByUserCode: async (userCode) => view(await payloads.findByUserCode(model, userCode, now())),
      async consume(id) {
        if (!(await payloads.consume(model, id, now()))) throw new errors.InvalidGrant(`${model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
      },
      destroy: (id) => payloads.destroy(model, id),
      revokeByGrantId: (grantId) => payloads.revokeByGrantId(grantId),
    };
  };
}
