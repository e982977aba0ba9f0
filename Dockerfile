# One image for every app; docker-compose.yml picks the app with its command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV CHECKPOINT_DISABLE=1 TURBO_TELEMETRY_DISABLED=1
COPY . .
RUN npm ci && npm cache clean --force
CMD ["npx", "tsx", "apps/api/src/main.ts"]
