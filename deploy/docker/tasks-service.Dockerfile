# syntax=docker/dockerfile:1.7
# tasks-service image. Build context: the repository root (the Go workspace), e.g.
#   docker build -f deploy/docker/tasks-service.Dockerfile -t gatehouse/tasks-service .
# Commands: `serve` (default) and `migrate up|down|status`.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# Module files first, so dependency downloads stay cached while code changes.
# go.work names every module, so every go.mod must be present.
COPY go.work go.work.sum* ./
COPY pkg/go.mod pkg/go.sum* pkg/
COPY gateway/go.mod gateway/go.sum* gateway/
COPY tasks-service/go.mod tasks-service/go.sum* tasks-service/
COPY deploy/go.mod deploy/go.sum* deploy/
COPY e2e/go.mod e2e/go.sum* e2e/
COPY pkg/ pkg/
COPY tasks-service/ tasks-service/
COPY deploy/docker/probe/ deploy/docker/probe/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags='-s -w' -o /out/tasks-service ./tasks-service/cmd/tasks-service && \
    go build -ldflags='-s -w' -o /out/probe ./deploy/docker/probe

# distroless/static: no shell, CA certificates included (Neon requires TLS),
# runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tasks-service /usr/local/bin/tasks-service
COPY --from=build /out/probe /usr/local/bin/probe
USER nonroot:nonroot
ENV TASKS_ADDR=:8081
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/probe", "http://127.0.0.1:8081/readyz"]
ENTRYPOINT ["/usr/local/bin/tasks-service"]
CMD ["serve"]
