# meshgate image. Two stages: `build` compiles every source folder with the full toolchain and then
# drops the dev dependencies; the runtime stage holds dist/ and production node_modules only.
# `.ci/image-build` replays the build stage's COPY and RUN lines without a container engine, so a
# folder missing here fails CI (see deploy/README.md).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# One line per folder of tsconfig.build.json's "include"; .ci/image-build checks the two agree.
COPY admin ./admin
COPY bench ./bench
COPY cli ./cli
COPY compile ./compile
COPY config ./config
COPY gateway ./gateway
COPY routes ./routes
COPY samples ./samples
COPY telemetry ./telemetry
COPY tls ./tls
COPY upstream ./upstream
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The samples' YAML, so `docker run IMAGE validate -f samples/bookinfo` works out of the box.
COPY --from=build /src/samples ./samples
# File mode reads TLS credentials from here (a mounted Secret per credentialName); Kubernetes mode
# writes the gateway namespace's Secrets here, laid out as mounted Secrets, so user 1000 owns it.
# (The Deployment runs with a read-only root filesystem and leaves the flag out: the default is a
# private folder under the /tmp emptyDir.)
RUN mkdir -p /etc/meshgate/credentials && chown 1000:1000 /etc/meshgate/credentials
# Numeric user (the image's `node`, 1000) so the kubelet can enforce runAsNonRoot.
USER 1000:1000
# Gateway listeners as the istio-ingressgateway Service targets them (80→8080, 443→8443, tcp 31400);
# 15021 health, 15020 status and Prometheus, 15090 Prometheus. Admin (15000) stays on loopback.
EXPOSE 8080 8443 31400 15021 15020 15090
# Exec form: node is PID 1 and receives SIGTERM itself. `meshgate run` handles SIGTERM and SIGINT
# (readiness turns 503, listeners drain, exit 0) and spawns no child processes, so there are no
# orphans to reap and no init (tini, docker --init) is needed; a crash still exits non-zero.
# `--single-threaded-gc`: no V8 GC helper threads next to the serving threads (cli/gc-threads.ts).
ENTRYPOINT ["node", "--single-threaded-gc", "dist/cli/main.js"]
CMD ["run", "--kubernetes", "--credentials-dir", "/etc/meshgate/credentials", "--port-map", "80=8080,443=8443"]
