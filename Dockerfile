# A first working image; hardening (multi-stage, healthcheck, labels) comes with issue #4.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY src ./src
COPY config ./config
USER node
EXPOSE 8080 9464
# Inside a container the listeners must face the container network.
ENV HOPWATCH_HTTP__HOST=0.0.0.0 HOPWATCH_ADMIN__HOST=0.0.0.0
# Exec form: node receives SIGTERM directly (npm start would swallow it).
CMD ["node", "src/cli.ts", "serve"]
