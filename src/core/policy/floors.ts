import { FIRST_PARTY_FLOOR } from './model.ts';
import type { Floor } from './resolve.ts';

/** The floors that apply to an application: a first-party one always requires enrollment and always challenges. */
export function floorsFor(application: { readonly firstParty: boolean }): Floor[] {
  return application.firstParty ? [{ name: 'first-party', layer: FIRST_PARTY_FLOOR }] : [];
}
