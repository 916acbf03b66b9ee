# Shared by the benchmark sections (sourced, not a section itself: scripts/bench.sh runs
# only *.sh). Each function works under the caller's "$root" (the repository) and "$work"
# (its temporary directory).

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Prints the ohproxy binary: scripts/bench.sh hands over its release build; a section run
# alone builds a debug one.
bench_ohproxy() {
    if [ -n "${OHPROXY_BIN:-}" ]; then
        echo "$OHPROXY_BIN"
        return
    fi
    echo "building ohproxy..." >&2
    (cd "$root" && cargo build -q -p ohproxy)
    echo "${CARGO_TARGET_DIR:-$root/target}/debug/ohproxy"
}

# Imports the statically linked test app as Docker image $1, labelled $2, without a
# registry (the same image the integration tests use, built the same way).
bench_test_image() {
    local image="$1" label="$2" triple
    echo "building the static test app..." >&2
    triple="$(uname -m)-unknown-linux-gnu"
    (cd "$root" && RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release \
        -p ohproxy-testapp --target "$triple" --target-dir "$root/target/testapp")
    mkdir -p "$work/rootfs/etc" "$work/rootfs/tmp"
    cp "$root/target/testapp/$triple/release/ohproxy-testapp" "$work/rootfs/"
    tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
    docker import -c 'CMD ["/ohproxy-testapp"]' -c 'EXPOSE 3000/tcp' -c "LABEL $label" \
        "$work/rootfs.tar" "$image" >/dev/null
}

# Starts a private nginx ($1, the binary) under "$work/nginx" with two workers and site
# files from its sites/ directory; "$2" adds lines inside http {}.
bench_private_nginx() {
    local nginx_bin="$1" extra="${2:-}" prefix="$work/nginx"
    mkdir -p "$prefix"/{conf,logs,tmp,sites,certs}
    chmod 755 "$prefix" "$prefix"/*
    cat >"$prefix/conf/nginx.conf" <<CONF
worker_processes 2;
pid $prefix/logs/nginx.pid;
error_log $prefix/logs/error.log notice;
events { worker_connections 1024; }
http {
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    $extra
    include $prefix/sites/*.conf;
}
CONF
    "$nginx_bin" -p "$prefix" -c "$prefix/conf/nginx.conf" -e "$prefix/logs/error.log"
}
