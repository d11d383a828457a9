FROM alpine
RUN echo a \
    # a comment line is fine
    echo b
