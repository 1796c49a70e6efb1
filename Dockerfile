# One image for the distributed services. SERVICE (set by docker-compose.yml)
# picks which of dist/<service>/index.js runs: ingest, enforcement,
# aggregator, sink or reports; `node dist/migrate/index.js` as the command runs
# the migrator. Embedded mode is not in this image (it needs chDB: `pnpm start`).

# --- build: every dependency, typecheck and bundle (`pnpm build`) ---
FROM node:20-bookworm-slim AS build
RUN npm install -g pnpm@10
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile && pnpm build
# Production dependencies only, of the distributed services and the workspace
# packages they bundle: no TypeScript, tsx, esbuild, vitest, nor chDB (~540 MB;
# only embedded mode and the tests depend on it). The store's folder names come
# from the lockfile, so dist/node_modules' links (infra/build.ts) still resolve.
RUN rm -rf node_modules packages/*/node_modules services/*/node_modules test/node_modules bench/node_modules \
  && pnpm install --prod --frozen-lockfile --offline \
    --filter "@tollgate/ingest..." --filter "@tollgate/enforcement..." --filter "@tollgate/aggregator..." \
    --filter "@tollgate/sink..." --filter "@tollgate/reports..."

# --- runtime: the bundles, their assets and the pnpm store they link to ---
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Root keeps the files; the service runs as the unprivileged `node` user and cannot change them.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# Liveness only (the process serves HTTP): readiness, which needs Kafka, Redis and
# ClickHouse, is docker-compose.yml's healthcheck on /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const s=process.env.SERVICE??'';const p=process.env[s.toUpperCase()+'_PORT']??{ingest:4318,enforcement:8080,reports:8081,aggregator:9101,sink:9102}[s];fetch('http://127.0.0.1:'+p+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# exec: node is PID 1 and gets SIGTERM itself, so the service shuts down gracefully.
CMD ["sh", "-c", "exec node --enable-source-maps dist/${SERVICE:?set SERVICE: ingest, enforcement, aggregator, sink or reports}/index.js"]
