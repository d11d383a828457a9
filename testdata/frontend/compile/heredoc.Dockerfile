FROM alpine
ARG NAME=world
RUN <<EOF
echo hello
EOF
RUN <<EOF
#!/usr/bin/env python3
print("hi")
EOF
RUN <<-EOT cat > /out
	tab-indented
	EOT
COPY <<EOF /etc/motd
Hello $NAME
EOF
COPY <<"EOF" /etc/raw
Keep $NAME
EOF
