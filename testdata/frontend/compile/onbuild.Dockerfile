FROM alpine AS base
ONBUILD RUN echo triggered
ONBUILD COPY --from=assets /logo.png /static/
FROM busybox AS assets
RUN touch /logo.png
FROM base
RUN echo after
