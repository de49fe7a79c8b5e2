import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..', '..');
const eslint = new ESLint({ cwd: root });

async function purityErrors(code: string, file: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'core-purity/imports-inside-core').map((m) => m.message);
}

test('src/core may not import a package, a node: builtin or a file outside src/core, at any depth', async () => {
  assert.equal((await purityErrors("import { x } from '../store/index.ts';\nexport const y = x;\n", 'src/core/probe.ts')).length, 1);
  assert.equal((await purityErrors("import { x } from '../../services/deps.ts';\nexport const y = x;\n", 'src/core/policy/probe.ts')).length, 1);
  assert.equal((await purityErrors("import fs from 'node:fs';\nexport const y = fs;\n", 'src/core/probe.ts')).length, 1);
  assert.equal((await purityErrors("import fc from 'fast-check';\nexport const y = fc;\n", 'src/core/decision/probe.ts')).length, 1);
  assert.equal((await purityErrors("export const load = () => import('./time.ts');\n", 'src/core/probe.ts')).length, 1);
});

test('imports inside src/core are fine', async () => {
  assert.deepEqual(await purityErrors("import { DAY_MS } from '../time.ts';\nexport const y = DAY_MS;\n", 'src/core/policy/probe.ts'), []);
});
