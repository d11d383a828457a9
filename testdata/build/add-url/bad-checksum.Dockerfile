# The pinned checksum is not the file's: the build must fail naming URL and both digests.
FROM busybox
ARG BASE
ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 ${BASE}/files/pinned.bin /pinned.bin
