import type { PolicyLayer } from '../core/index.ts';
import { changed, num, write, type Binding } from './kysely-support.ts';
import type { ShadowPolicyRepository } from './types.ts';

/** A tenant's shadow policy over Kysely (one row per tenant). */
export function shadowPolicyRepository(b: Binding, tenantId: string): ShadowPolicyRepository {
  const { db } = b;
  return {
    get: async () => {
      const row = await db.selectFrom('shadow_policies').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
      return row === undefined ? null : { layer: JSON.parse(row.layer) as PolicyLayer, createdBy: row.created_by, createdAt: num(row.created_at) };
    },
    put: (layer, createdBy, now) =>
      write('The shadow policy', async () => {
        await db
          .insertInto('shadow_policies')
          .values({ tenant_id: tenantId, layer: JSON.stringify(layer), created_by: createdBy, created_at: now })
          .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ layer: (eb) => eb.ref('excluded.layer'), created_by: (eb) => eb.ref('excluded.created_by'), created_at: (eb) => eb.ref('excluded.created_at') }))
          .execute();
      }),
    clear: async () => changed(await db.deleteFrom('shadow_policies').where('tenant_id', '=', tenantId).executeTakeFirst()),
  };
}
