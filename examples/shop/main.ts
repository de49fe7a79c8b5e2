/**
 * Runs Acme Shop: `npx node examples/shop/main.ts` with PORTCULLIS_URL, CLIENT_ID, CLIENT_SECRET, TENANT (the
 * tenant id) and PORT (default 3000) in the environment. See README.md beside this file.
 */
import { buildShop } from './app.ts';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    process.stderr.write(`acme-shop: set ${name} (see examples/shop/README.md)\n`);
    process.exit(2);
  }
  return value;
}

const portcullisUrl = process.env.PORTCULLIS_URL ?? 'http://localhost:8080';
const port = Number(process.env.PORT ?? '3000');
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  process.stderr.write(`acme-shop: PORT must be a port number, not ${JSON.stringify(process.env.PORT)}\n`);
  process.exit(2);
}
const shop = await buildShop({ portcullisUrl, clientId: required('CLIENT_ID'), clientSecret: required('CLIENT_SECRET'), tenant: required('TENANT'), logger: true });
await shop.listen({ port, host: process.env.HOST ?? '127.0.0.1' });
process.stdout.write(`Acme Shop is listening on http://localhost:${port} (Portcullis at ${portcullisUrl})\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void shop.close().then(() => process.exit(0));
  });
}
