FROM alpine AS base
RUN true
FROM debian AS base
RUN true
