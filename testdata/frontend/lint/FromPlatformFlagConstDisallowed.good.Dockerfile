FROM --platform=linux/amd64 alpine AS builder_amd64
FROM --platform=$BUILDPLATFORM alpine AS b2
