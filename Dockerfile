# Sealift's container image, for people with Docker:
#
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t ghcr.io/sealift-dev/sealift:0.1.0 .
#
# `make image` builds the same contents without a Docker daemon, reproducibly, as an OCI image
# layout (scripts/build-image.sh, crates/sealift-image; docs/install.md).
#
# The runtime image holds only what the binary needs: /usr/bin/sealift, the dynamic loader and the
# shared libraries it links (glibc, libgcc_s, OpenSSL, zlib: copied from the builder, so exactly
# the versions it was linked against), the ld.so configuration, the CA bundle, and /etc/passwd and
# /etc/group with the nonroot user (65532). No shell, no package manager, no other executable.

FROM rust:1-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config cmake ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sealift --bin sealift

# The root filesystem: the binary, whatever `ldd` says it loads (the loader included), libc6's
# ld.so configuration, the CA bundle and OpenSSL's default paths to it, users and groups.
RUN set -eu; \
    r=/rootfs; \
    install -D -m 0755 target/release/sealift "$r/usr/bin/sealift"; \
    for lib in $(ldd target/release/sealift | grep -o '/[^ ]*'); do cp --parents -L "$lib" "$r"; done; \
    cp --parents /etc/ld.so.conf $(dpkg-query -L libc6 | grep '^/etc/ld.so.conf.d/') "$r"; \
    cp --parents -L /etc/ssl/certs/ca-certificates.crt "$r"; \
    mkdir -p "$r/usr/lib/ssl"; \
    ln -s /etc/ssl/certs/ca-certificates.crt "$r/usr/lib/ssl/cert.pem"; \
    ln -s /etc/ssl/certs "$r/usr/lib/ssl/certs"; \
    printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$r/etc/passwd"; \
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$r/etc/group"; \
    printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$r/etc/nsswitch.conf"; \
    mkdir -m 1777 "$r/tmp"; \
    mkdir -p /home-nonroot

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
COPY --from=builder /rootfs/ /
COPY --from=builder --chown=65532:65532 /home-nonroot/ /home/nonroot/
ENV PATH=/usr/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/bin/sealift"]
LABEL org.opencontainers.image.source="https://github.com/sealift-dev/sealift" \
      org.opencontainers.image.url="https://github.com/sealift-dev/sealift" \
      org.opencontainers.image.title="sealift" \
      org.opencontainers.image.description="Sealift: verified image promotion between GitOps environments" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
