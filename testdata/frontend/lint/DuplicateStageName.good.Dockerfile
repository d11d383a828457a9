FROM alpine AS base
RUN true
FROM debian AS base2
RUN true
