FROM alpine AS scratchpad
RUN true
