FROM --platform=$TARGETPLATFORM alpine AS builder
RUN true
