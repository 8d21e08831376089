// Flat config: typed linting for the whole repo, plus two architecture rules: Node built-ins are
// kept out of workflows/ and what it bundles, contract/ and routing/ (workflow code must stay
// deterministic and runs in Temporal's sandbox), and imports between the layers run downward only
// (ARCHITECTURE.md, "Layers").
import path from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The folders of our own code each folder may import from (besides itself and npm packages).
 * Entry points and tools (main.ts, runtime/, scripts/, bench/, test/) sit on top and may import anything.
 */
const LAYERS = {
  contract: [],
  // Routing rules and the similarity router: pure logic over the contract's definitions, bundled into the workflow.
  routing: ['contract'],
  lib: [],
  config: ['lib'],
  db: ['contract', 'config', 'lib'],
  llm: ['contract', 'routing', 'config', 'lib'],
  functions: ['contract', 'config', 'lib'],
  relay: ['contract', 'db', 'lib'],
  workflows: ['contract', 'routing'],
  execution: ['contract', 'config', 'lib', 'db', 'llm', 'functions'],
  activities: ['contract', 'routing', 'config', 'lib', 'db', 'llm', 'functions', 'execution', 'relay'],
  app: ['config', 'lib', 'db'],
  sessions: ['contract', 'routing', 'config', 'lib', 'db', 'app', 'relay'],
  api: ['contract', 'routing', 'config', 'lib', 'db', 'llm', 'functions', 'execution', 'app', 'sessions'],
  gateway: ['contract', 'config', 'lib', 'db', 'app', 'sessions', 'relay'],
  worker: ['contract', 'config', 'lib', 'app', 'activities', 'relay', 'workflows'],
  // The web console runs in the browser: it shares only the contract's frame and config types (import type).
  console: ['contract'],
};

const root = import.meta.dirname;
const topFolder = (file) => path.relative(root, file).split(path.sep)[0];

const layersPlugin = {
  rules: {
    'imports-run-downward': {
      meta: {
        type: 'problem',
        schema: [],
        messages: { upward: '{{from}}/ may not import from {{to}}/ (allowed: {{allowed}}); see ARCHITECTURE.md, "Layers".' },
      },
      create(context) {
        const from = topFolder(context.filename);
        const allowed = LAYERS[from];
        if (!allowed) return {};
        const check = (node, source) => {
          if (typeof source !== 'string' || !source.startsWith('.')) return;
          const target = path.resolve(path.dirname(context.filename), source);
          const to = topFolder(target);
          if (to === from || to.startsWith('..') || allowed.includes(to) || to === 'package.json') return;
          context.report({ node, messageId: 'upward', data: { from, to, allowed: allowed.join(', ') || 'none' } });
        };
        return {
          ImportDeclaration: (node) => check(node, node.source.value),
          ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
          ExportAllDeclaration: (node) => check(node, node.source.value),
          ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
        };
      },
    },
  },
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.tools/**', 'dist/**', 'console/dist/**', 'scripts/*.mjs', 'scratch/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { layers: layersPlugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'layers/imports-run-downward': 'error',
      // Signals, queries and updates by their definitions (contract/session.ts), never by their names.
      'no-restricted-syntax': [
        'error',
        {
          selector: [
            'CallExpression[callee.property.name=/^(signal|executeUpdate|startUpdate)$/] > Literal[raw=/^[\'"`]/].arguments:first-child',
            "CallExpression[callee.name='setHandler'] > Literal[raw=/^['\"`]/].arguments:first-child",
            "Property[key.name='signal'] > Literal[raw=/^['\"`]/].value",
            'BinaryExpression[operator=/^[!=]==$/][left.property.name=/^(signalName|queryType|updateName)$/] > Literal',
          ].join(', '),
          message: 'Use the definition from contract/ (messageSignal, stateQuery, ... and `.name` to compare), not its string name.',
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts', 'contract/**/*.ts', 'routing/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'crypto', 'http', 'https', 'net', 'os', 'child_process'],
              message: 'Workflow code must be deterministic: only @temporalio/workflow and workflow-safe modules.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['console/**/*.ts', 'console/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['node:*'], message: 'The web console runs in the browser: no Node built-ins.' }] },
      ],
    },
  },
);
