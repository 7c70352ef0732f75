# STAND-IN for the official redis:N image, built by .ci/docker from Debian's packages
# where no registry can be reached: `redis-server` in the foreground as `redis`, protected
# mode off as in the official image, redis-cli on the PATH. Not for users.
FROM debian:bookworm-slim
ARG VERSION
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && redis-server --version > /tmp/version && grep -q "v=${VERSION}" /tmp/version && rm /tmp/version \
    && mkdir -p /data && chown redis:redis /data
COPY --chmod=0755 redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
