FROM alpine
ENTRYPOINT ["my-program", "start"]
SHELL ["/bin/bash", "-c"]
CMD run with bash
