# STAND-IN for the official postgres:N image, built by .ci/docker from Debian's packages
# where no registry can be reached. It keeps the part of the official image's contract
# that compose.yaml and the tests use: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB
# on first start, PGDATA=/var/lib/postgresql/data, PGPORT, `postgres -c ...` arguments,
# pg_isready and psql on the PATH. Not for users.
FROM debian:bookworm-slim
ARG VERSION
ENV PG_MAJOR=${VERSION} \
    PGDATA=/var/lib/postgresql/data \
    PATH=/usr/lib/postgresql/${VERSION}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# No cluster from the package: the entrypoint makes one in PGDATA.
# hadolint ignore=DL3008
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/docker.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-${VERSION}" \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/run/postgresql "$PGDATA" \
    && chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql \
    && chmod 700 "$PGDATA"
COPY --chmod=0755 postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
