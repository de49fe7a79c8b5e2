/**
 * HTML for Acme Shop, escaped by construction: {@link html} escapes every interpolated value unless it is
 * already {@link SafeHtml} (the output of another `html` template). Nothing from a user, from Portcullis or from
 * the configuration reaches a page unescaped.
 */

/** Markup that is already escaped (built by {@link html}). */
export class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Escapes text for an HTML element or a quoted attribute value.
 *
 * @example
 * escapeHtml('<b>"hi"</b>'); // '&lt;b&gt;&quot;hi&quot;&lt;/b&gt;'
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/**
 * A template whose interpolations are escaped (arrays are joined; `null`, `undefined` and `false` render nothing).
 *
 * @example
 * html`<p>Hello ${name}</p>`; // name "<script>" renders as &lt;script&gt;
 */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** A whole page of the shop. */
export function page(title: string, body: SafeHtml, signedInAs: string | null = null): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Acme Shop</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}label{display:block;margin:.5rem 0}
input{font-size:1rem;padding:.3rem}.error{color:#a00}.notice{color:#060}code{word-break:break-all}img.qr{width:200px;height:200px}</style>
</head>
<body>
<header><strong>Acme Shop</strong>${signedInAs === null ? '' : html` · signed in as <span id="who">${signedInAs}</span>`}</header>
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`.value;
}

/** A paragraph for a refusal or an error the user should read (`role="alert"`). */
export function errorLine(message: string | null): SafeHtml {
  return message === null ? html`` : html`<p class="error" role="alert">${message}</p>`;
}
