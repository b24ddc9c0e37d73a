# hopwatch's image. Node 24 runs the TypeScript sources directly, so there is no build stage:
# `deps` installs the production dependencies, the runtime stage copies them beside the sources.
#   docker build -t hopwatch .
#   docker run --init -p 8080:8080 -p 1080:1080 -p 9464:9464 \
#     -v "$PWD/users.yaml:/run/secrets/users:ro" -e HOPWATCH_AUTH__USERS_FILE=/run/secrets/users hopwatch
# Without users it refuses to start: see docker/hopwatch.yaml. docker/compose.yaml runs a demo.
#
# The base is pinned by version; for reproducible builds pin the digest too
# (node:24.21.0-bookworm-slim@sha256:…, from `docker buildx imagetools inspect`), and keep the
# two FROM lines identical.

FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script, and none gets to run one.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:24.21.0-bookworm-slim
ARG VERSION=0.1.0
# Set at release time: --build-arg SOURCE_URL=<the repository's URL>
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="hopwatch" \
      org.opencontainers.image.description="A forwarding proxy (HTTP, CONNECT, SOCKS5) that tells you which hop of a request failed and why" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
WORKDIR /app
COPY --chown=node:node package.json ./
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node src ./src
COPY --chown=node:node config ./config
COPY --chown=node:node docker/healthcheck.mjs ./docker/healthcheck.mjs
COPY --chown=node:node docker/hopwatch.yaml /etc/hopwatch/hopwatch.yaml
# The image's own `node` user (uid 1000). hopwatch writes nothing to disk (logs go to stdout),
# so it runs with a read-only root filesystem (docker run --read-only).
USER node
# Node's compile cache, filled at build time by one run as the user that reads it (entries are
# kept per uid), so that no start loads the TypeScript stripper (~30 MiB of RSS kept for life,
# see src/main.js). A read-only filesystem at run time is fine: the cache is still read.
ENV NODE_COMPILE_CACHE=/home/node/.compile-cache
RUN ["node", "src/main.js", "check-config", "config/default.yaml"]
# HTTP proxy and CONNECT, SOCKS5, admin (/metrics /healthz /readyz): docker/hopwatch.yaml.
EXPOSE 8080 1080 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.mjs"]
# Exec form, node as the process: SIGTERM reaches hopwatch, which drains for shutdownGraceMs
# (`npm start` would swallow the signal). Run with --init (compose: init: true) so PID 1 reaps.
# The node flags are src/main.js's shebang's (a test keeps them equal).
CMD ["node", "--max-semi-space-size=8", "src/main.js", "serve", "--config", "/etc/hopwatch/hopwatch.yaml"]
