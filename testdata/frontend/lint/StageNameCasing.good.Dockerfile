FROM alpine AS build
RUN true
