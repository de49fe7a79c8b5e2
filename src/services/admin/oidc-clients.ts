/**
 * An application's OpenID Connect settings (platform admin): its registered redirect URIs and post-logout redirect
 * URIs. The provider answers only for applications that have at least one redirect URI, and redirects only to an
 * exact registered value (OAuth 2.0 Security BCP, RFC 9700 §4.1.1).
 */
import { PortcullisError } from '../../core/index.ts';
import type { OidcClientRecord, OidcClientRepository } from '../../store/index.ts';
import { actorOf, type AdminActor, type ServiceDeps } from '../deps.ts';
import { assertPlatformAdmin, findApplication } from './access.ts';

export const MAX_REDIRECT_URIS = 20;
const MAX_URI_LENGTH = 2000;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A redirect URI we accept: absolute, no fragment, no credentials; `https`, or `http` on a loopback host (RFC 8252
 * §7.3), or a private-use scheme with a dot for native apps (RFC 8252 §7.1). Returns the refusal, or null.
 *
 * @example
 * redirectUriProblem('https://rp.example/cb'); // null
 * redirectUriProblem('http://rp.example/cb'); // 'must use https (http only on a loopback host)'
 */
export function redirectUriProblem(value: string): string | null {
  if (value.length === 0 || value.length > MAX_URI_LENGTH) return `must be 1 to ${MAX_URI_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute URI';
  }
  if (url.hash !== '' || value.includes('#')) return 'must not have a fragment';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.protocol === 'https:') return url.hostname === '' ? 'has no host' : null;
  if (url.protocol === 'http:') return LOOPBACK.has(url.hostname) ? null : 'must use https (http only on a loopback host)';
  if (/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) return null;
  return 'must use https, http on a loopback host, or a private-use scheme such as com.example.app:';
}

function checkList(values: readonly string[], field: string): string[] {
  if (values.length > MAX_REDIRECT_URIS) throw new PortcullisError('INVALID_REQUEST', `${field}: at most ${MAX_REDIRECT_URIS} URIs.`, { extra: { field } });
  const unique = [...new Set(values)];
  unique.forEach((v, i) => {
    const problem = redirectUriProblem(v);
    if (problem !== null) throw new PortcullisError('INVALID_REQUEST', `${field}[${i}] ${problem}.`, { extra: { field: `${field}[${i}]` } });
  });
  return unique;
}

export interface OidcClientView {
  readonly applicationId: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
}

function view(record: OidcClientRecord | null, applicationId: string): OidcClientView {
  return { applicationId, redirectUris: record?.redirectUris ?? [], postLogoutRedirectUris: record?.postLogoutRedirectUris ?? [] };
}

export async function getOidcClient(deps: ServiceDeps, clients: OidcClientRepository, actor: AdminActor, applicationId: string): Promise<OidcClientView> {
  assertPlatformAdmin(actor);
  const application = await findApplication(deps.store, applicationId);
  return view(await clients.get(application.id), application.id);
}

/** Replaces the settings (validated); audited as `application.updated` (changed: oidc). */
export async function putOidcClient(
  deps: ServiceDeps,
  clients: OidcClientRepository,
  actor: AdminActor,
  applicationId: string,
  input: { redirectUris: readonly string[]; postLogoutRedirectUris?: readonly string[] },
): Promise<OidcClientView> {
  assertPlatformAdmin(actor);
  const redirectUris = checkList(input.redirectUris, 'redirectUris');
  const postLogoutRedirectUris = checkList(input.postLogoutRedirectUris ?? [], 'postLogoutRedirectUris');
  const application = await findApplication(deps.store, applicationId);
  const now = deps.now();
  const saved = await clients.put(application.id, { redirectUris, postLogoutRedirectUris }, now);
  await deps.store.audit.append({ tenantId: null, at: now, actor: actorOf(actor), subject: application.id, applicationId: application.id, event: 'application.updated', data: { changed: ['oidc'], redirectUris, postLogoutRedirectUris } });
  return view(saved, application.id);
}
