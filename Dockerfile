# syntax=docker/dockerfile:1
# Wattfare's one binary, with the web app embedded:
#   docker build -t wattfare .
#   docker run wattfare control|data|migrate|sandbox
# docker-compose.yml runs the whole product from this image.

# 1. The web app (React + Vite) into web/dist/app. Its GraphQL types are
#    generated from ../schema.graphqls and committed, so no codegen here.
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY schema.graphqls /src/schema.graphqls
COPY web/ ./
RUN npm run build

# 2. The binary, embedding web/dist. Pure Go: no cgo, a static executable.
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=auto
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/dist/ /src/web/dist/
RUN go build -trimpath -ldflags="-s -w" -o /out/wattfare ./cmd/wattfare
# The data plane's spool, made here because the runtime has no shell: a
# volume mounted on it starts with this owner, so nonroot can write.
RUN mkdir -p /out/spool

# 3. A minimal runtime: the binary, CA certificates (for OpenRouter), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wattfare /usr/local/bin/wattfare
COPY --from=build --chown=nonroot:nonroot /out/spool /var/lib/wattfare/spool
USER nonroot:nonroot
WORKDIR /home/nonroot
# Processes in containers must listen beyond loopback; compose sets the ports.
# The spool must outlive a killed container (compose gives it a volume), or
# usage of requests answered just before the kill would be lost.
ENV WATTFARE_CONTROL_ADDR=0.0.0.0:8080 WATTFARE_DATA_ADDR=0.0.0.0:8787 WATTFARE_SANDBOX_ADDR=0.0.0.0:8790 \
    WATTFARE_SPOOL_DIR=/var/lib/wattfare/spool
EXPOSE 8080 8787
ENTRYPOINT ["/usr/local/bin/wattfare"]
CMD ["control"]
