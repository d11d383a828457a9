FROM alpine
ENV DEPS="curl git make"
LABEL a=b
