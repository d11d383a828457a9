FROM --platform=linux/amd64 alpine AS builder
RUN true
