FROM alpine
ENV PATH=$PAHT:/app/bin
