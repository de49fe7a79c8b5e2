/** Reading the `Cookie` request header (RFC 6265 §5.4): name=value pairs split on `;`. */

/**
 * The cookies of a request header, by name (values as sent; a later duplicate replaces an earlier one).
 *
 * @example
 * parseCookies('a=1; b=2').get('b'); // '2'
 */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}
