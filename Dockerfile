# syntax=docker/dockerfile:1
# glibc base: onnxruntime-node ships no musl (alpine) binaries. Pinned to a patch release;
# pin the digest too (node:20.20.2-bookworm-slim@sha256:...) once it is resolved in CI.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's install script would download CUDA binaries; the CPU ones ship in the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    MODEL_REPOSITORY=/app/models
WORKDIR /app
# Files stay owned by root: the app only reads them (the pod's root filesystem is read-only).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY models ./models
USER 10001:10001
EXPOSE 8080 9090
# Exec form: node is PID 1 and receives SIGTERM itself.
CMD ["node", "dist/main.js"]
