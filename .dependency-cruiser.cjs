// The shape rules of conventions.md that an import can break, checked by `npm run lint` (depcruise).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module that reaches itself through its imports: split out what both sides need.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-app-to-app',
      severity: 'error',
      comment: 'Apps are the things that run; what two of them share belongs in a package.',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'no-package-to-app',
      severity: 'error',
      comment: 'Libraries never depend on the programs that use them.',
      from: { path: '^(packages|bench)/' },
      to: { path: '^apps/' },
    },
    {
      name: 'no-package-internals',
      severity: 'error',
      comment:
        'Another package is used through its name (@fleet/x) and what its package.json exports, never through its src/ files.',
      from: { path: '^(apps|packages)/([^/]+)/|^(bench)/' },
      to: {
        path: '^packages/[^/]+/src/',
        pathNot: ['^$1/$2/', '^packages/[^/]+/src/index\\.ts$', '^packages/testing/src/global-setup\\.ts$'],
      },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve (a typo, or a dependency that is not installed).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|^packages/db/src/generated/' },
    // Type-only imports count: a cycle through types is still a cycle a reader has to untangle.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
  },
};
