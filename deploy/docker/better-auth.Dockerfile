# syntax=docker/dockerfile:1.7
# Better Auth dev server image (stands in for the Next.js app that normally
# hosts Better Auth). Build context: the repository root, e.g.
#   docker build -f deploy/docker/better-auth.Dockerfile -t gatehouse/better-auth .

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY deploy/better-auth/package.json deploy/better-auth/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund

# Node verifies TLS with its bundled Mozilla CA store, so Neon's TLS works here.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8082
COPY --from=deps /app/node_modules ./node_modules
COPY deploy/better-auth/package.json deploy/better-auth/server.mjs deploy/better-auth/config.mjs deploy/better-auth/auth.mjs ./
USER node
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=4s --start-period=15s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:8082/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "server.mjs"]
