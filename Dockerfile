# The update server as a container image: built in one stage, run from a small one as a
# user without privileges. See docs/deploy.md.
#
#   docker build -t update-server .
#   docker run -p 8000:8000 -v update-server-data:/var/lib/update-server update-server

# --- build -------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Only the server; --locked builds exactly the versions of Cargo.lock.
RUN cargo build --release --locked -p update-server \
    && install -D -m 0755 target/release/update-server /out/update-server

# --- run ---------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 update-server \
    && useradd --system --uid 10001 --gid update-server --home-dir /var/lib/update-server \
        --shell /usr/sbin/nologin update-server \
    && install -d -o update-server -g update-server -m 0750 /var/lib/update-server
COPY --from=build /out/update-server /usr/local/bin/update-server
# Listen on every interface of the container; keep the SQLite database (when no
# PostgreSQL URL is given), the secret and hosted payloads in the volume.
ENV UPDATE_SERVER_LISTEN=0.0.0.0:8000 \
    UPDATE_SERVER_DATA_DIR=/var/lib/update-server \
    UPDATE_SERVER_LOG_FORMAT=json
VOLUME ["/var/lib/update-server"]
EXPOSE 8000
USER 10001:10001
# SIGTERM (docker stop) finishes the requests in flight and writes what is buffered.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/update-server"]
