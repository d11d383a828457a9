# A ref the repository does not have: the build fails naming it.
FROM busybox
ARG REPO
ADD ${REPO}#no-such-branch /src/
