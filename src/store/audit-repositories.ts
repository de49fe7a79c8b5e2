/** The audit log (append-only) and cross-tenant maintenance over Kysely. */
import type { Insertable, Selectable } from 'kysely';
import type { AuditEventName } from '../core/index.ts';
import { num, numericCursor, pageSize, parseJsonObject, toPage, type Binding } from './kysely-support.ts';
import type { AuditEventsTable } from './schema.ts';
import { toMfaSession } from './session-repositories.ts';
import type {
  AuditFilter,
  AuditRecord,
  AuditRepository,
  MaintenanceRepository,
  NewAuditEvent,
  Page,
  PlatformAuditRepository,
} from './types.ts';

function toAudit(row: Selectable<AuditEventsTable>): AuditRecord {
  return {
    id: num(row.id),
    tenantId: row.tenant_id,
    at: num(row.at),
    actor: row.actor,
    subject: row.subject,
    event: row.event as AuditEventName,
    userId: row.user_id,
    applicationId: row.application_id,
    data: parseJsonObject(row.data) ?? {},
  };
}

function rowOf(tenantId: string | null, event: NewAuditEvent): Insertable<AuditEventsTable> {
  return {
    tenant_id: tenantId,
    at: event.at,
    actor: event.actor,
    subject: event.subject ?? null,
    event: event.event,
    user_id: event.userId ?? null,
    application_id: event.applicationId ?? null,
    data: JSON.stringify(event.data ?? {}),
  };
}

async function append(b: Binding, tenantId: string | null, event: NewAuditEvent): Promise<AuditRecord> {
  const row = await b.db.insertInto('audit_events').values(rowOf(tenantId, event)).returningAll().executeTakeFirstOrThrow();
  return toAudit(row);
}

async function appendMany(b: Binding, tenantId: string, events: readonly NewAuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await b.db
    .insertInto('audit_events')
    .values(events.map((e) => rowOf(tenantId, e)))
    .execute();
}

/** Newest first; the cursor is the last id seen, the next page continues below it. */
async function list(b: Binding, tenantId: string | null | undefined, filter: AuditFilter | undefined): Promise<Page<AuditRecord>> {
  const limit = pageSize(filter?.limit);
  if (filter?.events !== undefined && filter.events.length === 0) return { items: [], nextCursor: null };
  const cursor = numericCursor(filter?.cursor);
  let q = b.db.selectFrom('audit_events').selectAll();
  if (tenantId === null) q = q.where('tenant_id', 'is', null);
  else if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
  if (filter?.events !== undefined) q = q.where('event', 'in', [...filter.events]);
  if (filter?.userId !== undefined) q = q.where('user_id', '=', filter.userId);
  if (filter?.applicationId !== undefined) q = q.where('application_id', '=', filter.applicationId);
  if (filter?.from !== undefined) q = q.where('at', '>=', filter.from);
  if (filter?.to !== undefined) q = q.where('at', '<', filter.to);
  if (cursor !== null) q = q.where('id', '<', cursor);
  const rows = await q.orderBy('id', 'desc').limit(limit + 1).execute();
  return toPage(rows, limit, toAudit, (r) => String(num(r.id)));
}

/** A tenant's audit log over Kysely. */
export function auditRepository(b: Binding, tenantId: string): AuditRepository {
  return {
    append: (event) => append(b, tenantId, event),
    appendMany: (events) => appendMany(b, tenantId, events),
    list: (filter) => list(b, tenantId, filter),
  };
}

/** The platform audit log over Kysely. */
export function platformAuditRepository(b: Binding): PlatformAuditRepository {
  return {
    append: (event) => append(b, event.tenantId, event),
    list: (filter) => list(b, filter?.tenantId, filter),
  };
}

/** Cross-tenant housekeeping over Kysely. */
export function maintenanceRepository(b: Binding): MaintenanceRepository {
  const { db } = b;
  return {
    expireMfaSessions: async (now) =>
      (
        await db
          .updateTable('mfa_sessions')
          .set({ status: 'expired' })
          .where('status', '=', 'open')
          .where('expires_at', '<=', now)
          .returningAll()
          .execute()
      ).map(toMfaSession),
    deleteExpiredPendingFactors: async (now) => {
      const result = await db
        .deleteFrom('factors')
        .where('status', '=', 'pending')
        .where('expires_at', 'is not', null)
        .where('expires_at', '<=', now)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    deleteExpiredWebauthnChallenges: async (now) => {
      const result = await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    deleteExpiredSigninThrottles: async (now) => {
      const result = await db.deleteFrom('signin_throttle').where('window_ends_at', '<=', now).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
