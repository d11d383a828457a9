FROM alpine AS base
ENV A=1 B="two words"
ENV C=$A-$B
LABEL org.example.version="1.0" "other"=$A
EXPOSE 80 53/udp 8000-8002/tcp
VOLUME /data
VOLUME ["/cache", "/logs"]
USER app:staff
WORKDIR /srv
WORKDIR sub
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m30s --retries=3 CMD curl -f http://localhost/ || exit 1
CMD ["serve"]
FROM base AS child
ENTRYPOINT ["/entry"]
FROM base AS nohealth
HEALTHCHECK NONE
