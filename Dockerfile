# syntax=docker/dockerfile:1
# glibc base: onnxruntime-node ships no musl (alpine) binaries. Pinned to a patch release;
# pin the digest too (node:20.20.2-bookworm-slim@sha256:...) once it is resolved in CI.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's install script would download CUDA binaries; the CPU ones ship in the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# npm 10 can exit 0 from a failed install ("Exit handler never called!"): check the tree is whole
# here, so the failure is named at this step rather than as "tsc: not found" at the next.
RUN npm ci --no-audit --no-fund \
 && npm ls --all >/dev/null 2>&1 \
 || { echo "npm ci failed: node_modules does not match package-lock.json" >&2; exit 1; }
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund
# onnxruntime-node ships binaries for every platform (about 290 MB); keep only the one this stage
# runs on (the target platform: each architecture of a multi-arch build prunes for itself), then
# check that it loads. Source maps, TypeScript sources and declarations, markdown other than
# licences, and the packages' own tests, benchmarks and examples are not needed at run time.
RUN set -e; \
    ort=node_modules/onnxruntime-node/bin/napi-v6; \
    keep="$(node -p 'process.platform + "/" + process.arch')"; \
    test -f "$ort/$keep/onnxruntime_binding.node"; \
    for dir in "$ort"/*/*; do [ "$dir" = "$ort/$keep" ] || rm -rf "$dir"; done; \
    find "$ort" -mindepth 1 -type d -empty -delete; \
    find node_modules dist -type f \( -name '*.map' -o -name '*.ts' -o -name '*.cts' -o -name '*.mts' -o \( -name '*.md' ! -iname 'licen*' \) \) -delete; \
    find node_modules -type d -regex '\(.*/\)?node_modules/\(@[^/]*/\)?[^/]*/\(test\|tests\|__tests__\|benchmarks\|examples?\|\.github\)' -prune -exec rm -rf {} +; \
    node -e "require('onnxruntime-node')"

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=
ARG SOURCE_URL=
LABEL org.opencontainers.image.title="meshserve" \
      org.opencontainers.image.description="Serves ONNX models over HTTP (row format and KServe V2) and gRPC (Open Inference Protocol), built to run meshed by Linkerd on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
# ORT_DISABLE_TELEMETRY: onnxruntime (1.30 on Linux) otherwise queues usage events on disk and
# uploads them over HTTPS; a model server in a locked-down mesh does not phone home.
ENV NODE_ENV=production \
    MODEL_REPOSITORY=/app/models \
    ORT_DISABLE_TELEMETRY=1
WORKDIR /app
# Files stay owned by root: the app only reads them (the pod's root filesystem is read-only).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The gRPC service definition, read at run time from beside dist/ (dist/grpc/server.js -> ../../proto).
COPY proto ./proto
COPY models ./models
USER 10001:10001
EXPOSE 8080 8081 9090
# No HEALTHCHECK: Kubernetes probes /healthz and /ready itself (docs/deploy.md).
# Exec form: node is PID 1 and receives SIGTERM itself.
CMD ["node", "dist/main.js"]
