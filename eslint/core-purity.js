// A local ESLint rule: files under src/core import only files under src/core. Each import is resolved against
// the importing file, so the rule holds at every folder depth; packages, node: builtins and dynamic import()
// are refused outright (src/core does no I/O).
import path from 'node:path';

const CORE = path.resolve(import.meta.dirname, '..', 'src', 'core') + path.sep;

export const corePurity = {
  rules: {
    'imports-inside-core': {
      meta: {
        type: 'problem',
        schema: [],
        messages: {
          outside: 'src/core must not import from outside src/core ({{source}}).',
          pkg: 'src/core is pure: no package or node: imports ({{source}}).',
          dynamic: 'src/core is pure: no dynamic import().',
        },
      },
      create(context) {
        const check = (node) => {
          const source = node.source?.value;
          if (typeof source !== 'string') return;
          if (!source.startsWith('./') && !source.startsWith('../')) {
            context.report({ node, messageId: 'pkg', data: { source } });
            return;
          }
          if (!path.resolve(path.dirname(context.filename), source).startsWith(CORE)) {
            context.report({ node, messageId: 'outside', data: { source } });
          }
        };
        return {
          ImportDeclaration: check,
          ExportAllDeclaration: check,
          ExportNamedDeclaration: check,
          ImportExpression: (node) => context.report({ node, messageId: 'dynamic' }),
        };
      },
    },
  },
};
