FROM alpine AS deps
RUN touch /deps
FROM alpine
WORKDIR /src
ARG CACHE_ID=gomod
RUN --mount=type=cache,target=/root/.cache,id=${CACHE_ID},sharing=locked \
    --mount=type=bind,from=deps,source=/deps,target=deps \
    --mount=type=bind,source=go.mod,target=/src/go.mod \
    --mount=type=tmpfs,target=/tmp,size=64m \
    --mount=type=secret,id=token,env=TOKEN \
    --mount=type=ssh \
    --network=none --security=insecure \
    go build ./...
