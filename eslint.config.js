// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { corePurity } from './eslint/core-purity.js';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // src/core is pure: it may import only from inside src/core (relative paths), never a package or node: builtin.
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/*.test.ts'],
    plugins: { 'core-purity': corePurity },
    rules: {
      'core-purity/imports-inside-core': 'error',
      'no-restricted-globals': ['error',
        { name: 'Date', message: 'src/core takes the time as an input.' },
        { name: 'crypto', message: 'src/core takes randomness as an input.' },
        { name: 'process', message: 'src/core does no I/O.' },
        { name: 'fetch', message: 'src/core does no I/O.' },
        { name: 'setTimeout', message: 'src/core has no clock.' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'src/core takes randomness as an input.' },
        { object: 'performance', property: 'now', message: 'src/core takes the time as an input.' },
      ],
    },
  },
);
