FROM alpine AS used
RUN echo used
FROM alpine AS unused
ARG ONLY_IN_UNUSED=x
COPY --chmod=99999 a /b
RUN echo $ONLY_IN_UNUSED
FROM used AS final
COPY --from=used /etc/os-release /copy
