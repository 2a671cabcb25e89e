# syntax=docker/dockerfile:1
# perf-sidecar image: the sidecar server (compiled), plus the demo workload (run from TypeScript by
# Node 24's type stripping). Multi-stage: the compiler and dev dependencies stay in the build stage.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` script builds dist/, which needs src/ (copied below).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The dashboard page is bundled at build time (esbuild, a dev dependency of this stage).
COPY scripts/build-ui.mjs ./scripts/
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: without dev dependencies there is no TypeScript compiler for `prepare`.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root src ./src
COPY --chown=root:root proto ./proto
COPY --chown=root:root demo ./demo
# Files stay owned by root and read-only for the process: the sidecar writes nothing to its image.
USER node
EXPOSE 8000 4317 4318
# /livez is process-only (no Redis or PostgreSQL I/O), so a slow dependency never restarts the sidecar.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 itself (no npm, no shell in between), so `docker stop`'s SIGTERM reaches the server.
CMD ["node", "--import", "./dist/register.js", "./dist/server.js"]
