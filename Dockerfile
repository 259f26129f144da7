# meshgate: multi-stage build; the runtime image holds only production dependencies and dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY config ./config
COPY gateway ./gateway
COPY routes ./routes
COPY tls ./tls
COPY upstream ./upstream
COPY telemetry ./telemetry
COPY samples ./samples
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/package.json ./package.json
COPY samples ./samples
# Config is mounted at /etc/meshgate (a ConfigMap in Kubernetes); credentials at /etc/meshgate/credentials.
RUN mkdir -p /etc/meshgate && chown -R node:node /etc/meshgate
USER node
# Gateway ports as the Istio ingress Service targets them (80→8080, 443→8443), TCP 31400,
# admin 15000 (loopback), Prometheus 15090, status 15020, health 15021.
EXPOSE 8080 8443 31400 15090 15020 15021
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["run", "-f", "/etc/meshgate", "--port-map", "80=8080,443=8443"]
