FROM alpine
MAINTAINER moby@example.com
