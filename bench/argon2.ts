/**
 * Measures argon2id on this machine: password hashes per second (OWASP parameters) alone and under concurrency,
 * and the time of one recovery-code attempt against a batch of 10 unused codes. Not a test; run with
 * `npx node bench/argon2.ts` (UV_THREADPOOL_SIZE changes the thread pool, default 4).
 */
import { availableParallelism } from 'node:os';
import { hashPassword, verifyPassword } from '../src/factors/password.ts';
import { generateRecoveryCodes, hashRecoveryCode, verifyRecoveryCode } from '../src/factors/recovery-codes.ts';

async function throughput(label: string, total: number, concurrency: number, op: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) await op();
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const rate = total / seconds;
  console.log(`${label.padEnd(52)} concurrency ${String(concurrency).padStart(2)}: ${rate.toFixed(1).padStart(7)} /s  (${((seconds * 1000) / total).toFixed(1)} ms per op amortised)`);
  return rate;
}

async function latency(label: string, runs: number, op: () => Promise<unknown>): Promise<void> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await op();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number): string => (samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0).toFixed(1);
  console.log(`${label.padEnd(52)} p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms (${runs} runs)`);
}

console.log(`cores: ${availableParallelism()}, UV_THREADPOOL_SIZE: ${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}, node ${process.version}`);

const password = 'correct horse battery staple';
const stored = await hashPassword(password);
await latency('password hash (m=19456, t=2, p=1), one at a time', 20, () => hashPassword(password));
for (const c of [1, 2, 4, 8]) await throughput('password hashes', 80, c, () => hashPassword(password));
for (const c of [1, 2, 4]) await throughput('password verifications', 80, c, () => verifyPassword(stored, password));

const codes = generateRecoveryCodes(10);
const candidates = await Promise.all(codes.map(async (code, i) => ({ id: `rc-${i}`, hash: await hashRecoveryCode(code) })));
await latency('recovery code hash (m=4096, t=1, p=1), one', 50, () => hashRecoveryCode(codes[0] ?? ''));
await latency('recovery attempt vs batch of 10, last code matches', 30, () => verifyRecoveryCode(codes[9], candidates));
await latency('recovery attempt vs batch of 10, no match', 30, () => verifyRecoveryCode('0000-0000-0000-0000', candidates));
for (const c of [1, 4]) await throughput('recovery attempts (batch of 10 each)', 60, c, () => verifyRecoveryCode(codes[5], candidates));
