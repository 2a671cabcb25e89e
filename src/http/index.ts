/** HTTP: the sidecar's Hono app. */
export { type AppOptions, createApp } from './app.ts';
