FROM alpine
run echo a
RUN echo b
COPY . .
