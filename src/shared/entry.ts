/**
 * Which program the preload runs in: perf-sidecar's own server, or a host application. Only
 * `node:` built-ins, so that the preload entry can ask before its loader hook is installed (and
 * before anything that the instrumentations wrap is loaded).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Whether the main module is perf-sidecar's own server entry, a sibling of the preload file
 * (`src/server.ts` next to `src/register.ts`, `dist/server.js` next to `dist/register.js`).
 *
 * @param registerUrl `import.meta.url` of the preload entry.
 * @param mainPath the main module's path. Default `process.argv[1]`.
 */
export function isSidecarServer(
  registerUrl: string,
  mainPath: string | undefined = process.argv[1],
): boolean {
  if (!mainPath) return false;
  try {
    const main = realpathSync(mainPath);
    return ['./server.ts', './server.js'].some((entry) => {
      try {
        return realpathSync(fileURLToPath(new URL(entry, registerUrl))) === main;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
