/** Help-desk operations on a user's factors: list, MFA reset, revoke one, re-grant grace, unlock. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../../services/deps.ts';
import { grantGrace, listUserFactors, removeUserFactor, resetUserMfa, unlockUser } from '../../../services/admin/factors-admin.ts';
import { parseInstant } from '../../../services/admin/validate.ts';
import { actorOf, body, params, responses, security, TAGS } from './common.ts';
import { Factor, FactorParams, GraceBody, GraceResult, Id, ResetResult, UserParams } from './schemas.ts';
import { iso, viewFactor } from '../../../services/admin/views.ts';
import { listUserTrustedDevices, revokeUserTrustedDevices } from '../../../services/trusted-devices.ts';
import { TrustedDeviceListing } from '../auth/schemas.ts';

const tags = [TAGS.factors];

type UserPath = { tenantId: string; userId: string };

/** Registers the factor administration routes on the admin scope. */
export async function registerFactorRoutes(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  app.get(
    '/tenants/:tenantId/users/:userId/factors',
    { schema: { tags, security, summary: 'A user’s factors (no secrets)', params: UserParams, response: responses({ 200: Type.Object({ items: Type.Array(Factor) }) }) } },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      return { items: (await listUserFactors(deps, actorOf(request), tenantId, userId)).map(viewFactor) };
    },
  );

  app.post(
    '/tenants/:tenantId/users/:userId/mfa/reset',
    {
      schema: {
        tags,
        security,
        summary: 'Reset two-step verification: delete TOTP and recovery codes, keep passkeys, revoke trusted devices',
        params: UserParams,
        response: responses({ 200: ResetResult }),
      },
    },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      return resetUserMfa(deps, actorOf(request), tenantId, userId);
    },
  );

  app.delete(
    '/tenants/:tenantId/users/:userId/factors/:factorId',
    { schema: { tags, security, summary: 'Revoke one factor (e.g. a lost passkey)', params: FactorParams, response: responses({ 204: { type: 'null' } }) } },
    async (request, reply) => {
      const { tenantId, userId, factorId } = params<UserPath & { factorId: string }>(request);
      await removeUserFactor(deps, actorOf(request), tenantId, userId, factorId);
      return reply.code(204).send();
    },
  );

  app.get(
    '/tenants/:tenantId/users/:userId/trusted-devices',
    { schema: { tags, security, summary: 'A user’s remembered devices (never their tokens)', params: UserParams, response: responses({ 200: Type.Object({ items: Type.Array(TrustedDeviceListing) }) }) } },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      return { items: await listUserTrustedDevices(deps, actorOf(request), tenantId, userId) };
    },
  );

  app.delete(
    '/tenants/:tenantId/users/:userId/trusted-devices',
    { schema: { tags, security, summary: 'Revoke every remembered device of a user (and every device and network the risk engine knows for them)', params: UserParams, response: responses({ 200: Type.Object({ revoked: Type.Integer() }) }) } },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      return revokeUserTrustedDevices(deps, actorOf(request), tenantId, userId, null);
    },
  );

  const DeviceParams = Type.Object({ tenantId: Id, userId: Id, deviceId: Id }, { additionalProperties: false });
  app.delete(
    '/tenants/:tenantId/users/:userId/trusted-devices/:deviceId',
    { schema: { tags, security, summary: 'Revoke one remembered device of a user', params: DeviceParams, response: responses({ 204: { type: 'null' } }) } },
    async (request, reply) => {
      const { tenantId, userId, deviceId } = params<UserPath & { deviceId: string }>(request);
      await revokeUserTrustedDevices(deps, actorOf(request), tenantId, userId, deviceId);
      return reply.code(204).send();
    },
  );

  app.post(
    '/tenants/:tenantId/users/:userId/grace',
    { schema: { tags, security, summary: 'Re-grant grace: `{ days }` from now or `{ until }` (at most 90 days)', params: UserParams, body: GraceBody, response: responses({ 200: GraceResult }) } },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      const input = body<{ days: number } | { until: string }>(request);
      const grace = 'days' in input ? { days: input.days } : { until: parseInstant(input.until, 'until') };
      const { graceUntil } = await grantGrace(deps, actorOf(request), tenantId, userId, grace);
      return { graceUntil: iso(graceUntil) };
    },
  );

  app.post(
    '/tenants/:tenantId/users/:userId/unlock',
    {
      schema: {
        tags,
        security,
        summary: 'Lift an account lock (after 100 consecutive failures) and clear every failure count of the user',
        params: UserParams,
        response: responses({ 200: Type.Object({ wasLocked: Type.Boolean() }) }),
      },
    },
    async (request) => {
      const { tenantId, userId } = params<UserPath>(request);
      return unlockUser(deps, actorOf(request), tenantId, userId);
    },
  );
}
