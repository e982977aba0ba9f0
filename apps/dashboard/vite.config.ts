import { defineConfig } from 'vite';

/**
 * The console builds to dist/ (index.html and assets/), which the API serves at `/` (apps/api routes/console.ts).
 * JSX by Vite's own transform (Oxc), automatic runtime: no React plugin, as the console needs no fast refresh in
 * development (it is developed against a running API with `npm start`).
 */
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Scripts and styles as files only: the page's Content-Security-Policy allows no inline script or style.
    assetsInlineLimit: 0,
    // The build runs on the product's own machine (npm start); reports of sizes are noise there.
    reportCompressedSize: false,
    rolldownOptions: {
      // React Query marks its modules "use client" for React Server Components; a plain client bundle has no use
      // for the directive, and the bundler's warning about dropping it is noise on every build.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
