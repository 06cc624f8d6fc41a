#!/bin/sh
# engine-libcurl.sh - the proxy suites again with every upstream request
# through libcurl (AROUTER_HTTP_CLIENT=libcurl). The fake upstream listens
# on 127.0.0.1, so the other runs exercise the built-in HTTP/1.1 client;
# libcurl carries every HTTPS provider in real use and must keep passing
# the same tests. One TAP stream for the four files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
AROUTER_HTTP_CLIENT=libcurl
export AROUTER_HTTP_CLIENT
exec "${BATS:-bats}" --tap "$here/proxy.bats" "$here/proxy-matrix.bats" "$here/routing.bats" "$here/faults.bats"
