# Shared settings and helpers for the scripts in .ci/ (sourced, not run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
CARGO_LEPTOS_VERSION=0.3.10

# Queries are checked against the committed .sqlx/ data, never a live database at build time.
export SQLX_OFFLINE=true
export PATH="$HOME/.cargo/bin:$ROOT/.ci/node_modules/.bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Where cargo puts its output; cargo-leptos reads the same variable.
target_dir() { echo "${CARGO_TARGET_DIR:-$ROOT/target}"; }
