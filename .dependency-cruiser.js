/**
 * Dependency rules checked in CI (`npm run depcheck`): product code never imports harness code, tests or
 * scripts, and no module-level import cycle. Folder-level cycles are checked by scripts/check-folder-cycles.ts
 * on this tool's output (docs/ARCHITECTURE.md).
 */
module.exports = {
  forbidden: [
    {
      name: 'product-imports-harness',
      comment: 'src/ ships; harness/ (the twins, workload driver, drills and bench helpers) is not shipped and must not be imported by the product.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: ['^harness/', '^scripts/', '^test/'] },
    },
    {
      name: 'src-imports-tests-or-scripts',
      comment: 'Nothing under src/ depends on tests or entry-point scripts.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: ['^scripts/', '^test/'] },
    },
    {
      name: 'no-circular',
      comment: 'A module-level import cycle makes load order matter and hides a missing seam. Type-only imports (import type) are erased at compile time and do not count.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only', 'pre-compilation-only'] } },
    },
    {
      name: 'ledger-keys-through-the-ledger',
      comment:
        "The operator views (src/ops/) and reconciliation (src/reconciliation-run/) read the ledger through Ledger's methods, never by naming its keys (docs/ARCHITECTURE.md, \"Known debts\": the modules still left to move).",
      severity: 'error',
      from: { path: ['^src/ops/', '^src/reconciliation-run/'] },
      to: { path: '^src/redis/key-layout\\.ts$' },
    },
    {
      name: 'not-to-dev-dependency',
      comment: 'Product code may only import runtime dependencies.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^dist/' },
  },
};
