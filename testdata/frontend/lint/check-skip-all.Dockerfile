# check=skip=all
FROM alpine as Build
MAINTAINER me
