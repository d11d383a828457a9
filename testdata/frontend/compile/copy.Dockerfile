FROM alpine
WORKDIR /app
COPY --chown=1000:1000 --chmod=644 go.mod go.sum ./
COPY --link src/ src/
COPY --parents --exclude=*.md docs/./guide/ /out/
COPY . .
ADD https://example.com/archive.tar.gz /tmp/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/x.bin /x.bin
ADD https://github.com/moby/buildkit.git#v0.12.0:docs /docs
ADD local.tar /unpacked/
COPY --from=busybox:1.36 /bin/busybox /bin/
