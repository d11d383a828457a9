FROM --platform=$BUILDPLATFORM alpine AS builder
RUN true
