# STAND-IN for the official rust:X.Y-slim-SUITE image, built by .ci/docker where no
# registry can be reached: Debian's gcc and libc6-dev on the debian stand-in, and this
# machine's Rust toolchain laid out as the official image lays it out. Not for users.
ARG BASE
FROM ${BASE}
ARG RUST_VERSION
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUST_VERSION=${RUST_VERSION}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
# The machine's CA certificates: this machine reaches crates.io through its own CA.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY rustup /usr/local/rustup
COPY cargo /usr/local/cargo
RUN chmod -R a+w /usr/local/rustup /usr/local/cargo \
    && rustup --version && cargo --version && rustc --version
