FROM alpine
ENV DEPS curl git make
