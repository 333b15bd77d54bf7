# syntax=docker/dockerfile:1
# Portcullis container image. Build:  docker build -t portcullis .
# Run:    docker run -p 4180:4180 -e OAUTH2_PROXY_OIDC_ISSUER_URL=... -e OAUTH2_PROXY_CLIENT_ID=... \
#           -e OAUTH2_PROXY_CLIENT_SECRET=... -e OAUTH2_PROXY_COOKIE_SECRET=... \
#           -e OAUTH2_PROXY_EMAIL_DOMAINS=... -e OAUTH2_PROXY_UPSTREAMS=... portcullis
# scripts/check-production-install.sh reproduces the runtime stage without Docker (CI runs it).

# The current Node LTS (26 since October 2026); the proxy supports Node >= 20.19.
ARG NODE_IMAGE=node:26-slim

# ---- build: compile TypeScript with the dev dependencies ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# Only src/ is copied, so this compiles dist/src/ alone (tests and benchmarks are not in the image).
RUN npm run build

# ---- runtime: production dependencies and the compiled proxy only ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Dependencies first: this layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY bin ./bin
# Everything above belongs to root and is read-only to the proxy, which runs as the image's
# unprivileged user.
USER node
ENV OAUTH2_PROXY_HTTP_ADDRESS=0.0.0.0:4180
EXPOSE 4180
# The binary checks itself: `portcullis healthcheck` reads OAUTH2_PROXY_HTTP_ADDRESS and
# OAUTH2_PROXY_PING_PATH as the proxy does and GETs the ping path (no curl in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/app/bin/portcullis", "healthcheck"]
ENTRYPOINT ["/app/bin/portcullis"]
