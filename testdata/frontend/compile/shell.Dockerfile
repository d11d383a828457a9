FROM alpine
RUN echo default shell
SHELL ["/bin/bash", "-eo", "pipefail", "-c"]
RUN echo bash now | cat
CMD echo also bash
ENTRYPOINT ["/entry"]
