/**
 * Style sheets are imported for their side effect: esbuild bundles them into the page's one CSS
 * file. This tells the type checker that such imports exist and export nothing.
 */
declare module '*.css' {}
