# ADD --checksum on a git source: the ref must resolve to the pinned commit.
FROM busybox
ARG REPO
ARG PIN
ADD --checksum=${PIN} ${REPO}#v1:app /pinned/
