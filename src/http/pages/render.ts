/**
 * Server-rendered hosted pages: eta templates (src/http/pages/views) with auto-escaping on — every `<%= %>` is
 * HTML-escaped, and the only raw output (`<%~ %>`) is the layout's body, the provider's own logout form and the QR
 * SVG our TOTP module draws (no user input reaches it). eta: MIT, no dependencies, small and fast; chosen over
 * nunjucks for its size and over JSX for needing no build step (Node runs our TypeScript by type stripping).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { translate, type MessageId } from './messages.ts';

const here = dirname(fileURLToPath(import.meta.url));
const eta = new Eta({ views: join(here, 'views'), autoEscape: true, cache: true, useWith: false });

/** @simplewebauthn/browser's UMD bundle (its package exports name no path to it; it sits beside `script/`). */
const webauthnBrowserBundle = join(dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')), '..', 'dist', 'bundle', 'index.umd.min.js');

/**
 * The one stylesheet and the one script of the pages, served from `/assets/`: the WebAuthn ceremonies' browser half
 * is @simplewebauthn/browser's bundle (it defines `SimpleWebAuthnBrowser`) and our small `webauthn.js`, which reads
 * the options from a JSON data block and posts the credential in the page's form (src/http/pages/webauthn.ts).
 */
export const ASSETS: Readonly<Record<string, { type: string; body: Buffer }>> = {
  'pages.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(here, 'assets', 'pages.css')) },
  'simplewebauthn-browser.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(webauthnBrowserBundle) },
  'webauthn.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(here, 'assets', 'webauthn.js')) },
};

/**
 * The pages' Content-Security-Policy: nothing inline, styles, images and scripts from us (the QR code is inline
 * SVG, no data: URL; the WebAuthn options travel in a `<script type="application/json">` data block, which is
 * never executed, so no inline script and no eval are allowed), no frames. `form-action` is left out on purpose: Chrome applies it to the redirects that follow a
 * form post, and a finished sign-in redirects to the client's registered redirect URI, which is another origin.
 */
export const PAGES_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Renders a page template with the message function `t` in scope. */
export function renderPage(name: string, data: Record<string, unknown>): string {
  return eta.render(`./${name}`, { ...data, t: (id: MessageId, params?: Record<string, string | number>) => translate(id, params) });
}

/** Pages the provider renders itself (errors, logout), in our layout. */
export function renderProviderPage(name: 'error' | 'logout' | 'logged-out', data: Record<string, unknown>): string {
  return renderPage(name, data);
}
