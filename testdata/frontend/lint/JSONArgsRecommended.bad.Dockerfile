FROM alpine
ENTRYPOINT my-program start
