# One image for every service; SERVICE (set by docker-compose.yml) picks which runs.
FROM node:20-bookworm-slim
WORKDIR /app
RUN npm install -g pnpm@10
COPY . .
RUN pnpm install --frozen-lockfile
ENV NODE_ENV=production
# exec: the service is PID 1's child-free target of SIGTERM, so it shuts down gracefully.
CMD ["sh", "-c", "exec node --import tsx services/${SERVICE}/src/index.ts"]
