# One image for every app; docker-compose.yml picks the app with its command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV CHECKPOINT_DISABLE=1 TURBO_TELEMETRY_DISABLED=1
COPY . .
# The web console, built to static files the API serves at / (apps/dashboard/dist).
RUN npm ci && npm run build --workspace @fleet/dashboard && npm cache clean --force
CMD ["npx", "tsx", "apps/api/src/main.ts"]
