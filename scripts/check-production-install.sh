#!/usr/bin/env bash
# Stand-in for building the Docker image where no Docker engine runs: install exactly what the
# image's runtime stage gets (package*.json, bin/, the built dist/src/ and production dependencies
# only) into a fresh directory, and prove the proxy starts from there without devDependencies.
#
#   scripts/check-production-install.sh            # builds first (npm run build)
#   SKIP_BUILD=1 scripts/check-production-install.sh   # uses the dist/ already built
#   KEEP_DIR=1 ...                                  # leaves the directory behind for a look
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[production-install] %s\n' "$*"; }
die() { printf '[production-install] FAILED: %s\n' "$*" >&2; exit 1; }

if [ "${SKIP_BUILD:-}" != 1 ]; then
  say "building (npm run build)"
  npm run build --silent
fi
[ -f dist/src/cli.js ] || die "dist/src/cli.js is missing: run npm run build"

dir="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-prod.XXXXXX")"
if [ "${KEEP_DIR:-}" = 1 ]; then say "keeping $dir"; else trap 'rm -rf "$dir"' EXIT; fi

# The same files the Dockerfile's runtime stage copies.
mkdir -p "$dir/dist"
cp package.json package-lock.json "$dir/"
cp -R bin "$dir/bin"
cp -R dist/src "$dir/dist/src"

say "npm ci --omit=dev in $dir"
start=$SECONDS
if ! (cd "$dir" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >"$dir/npm-ci.log" 2>&1); then
  cat "$dir/npm-ci.log" >&2
  die "npm ci --omit=dev failed"
fi
for dev in $(node -p "Object.keys(require('./package.json').devDependencies ?? {}).join(' ')"); do
  [ ! -e "$dir/node_modules/$dev" ] || die "devDependency $dev was installed by npm ci --omit=dev"
done
say "installed $(node -p "Object.keys(require(process.argv[1]).packages).length" "$dir/node_modules/.package-lock.json") packages in $((SECONDS - start)) s"

# Run it as a user would, with no OAUTH2_PROXY_* variable from this shell leaking in, from its own
# directory (so no .env of the work tree is read).
run() { (cd "$dir" && env -i PATH="$PATH" HOME="$dir" "$@"); }

want="$(node -p "require('./package.json').version")"
got="$(run node bin/portcullis --version 2>&1)" || die "portcullis --version failed: $got"
[ "$got" = "$want" ] || die "portcullis --version printed '$got', expected '$want'"
say "portcullis --version: $got"

# A configuration that fails validation in a known way: every runtime module has been imported
# (cli.js imports the whole proxy statically) before validation runs, so exit code 2 with the
# validation message proves the production dependencies are enough to load it.
set +e
out="$(run env NODE_ENV=production bin/portcullis 2>&1)"
code=$?
set -e
if [ "$code" -ne 2 ] || ! grep -q 'OAUTH2_PROXY_CLIENT_ID' <<<"$out"; then
  printf '%s\n' "$out" >&2
  die "NODE_ENV=production portcullis with no configuration: expected exit 2 naming OAUTH2_PROXY_CLIENT_ID, got exit $code"
fi
if grep -qiE 'cannot find (module|package)|ERR_MODULE_NOT_FOUND' <<<"$out"; then
  printf '%s\n' "$out" >&2
  die "a module is missing from the production install"
fi
say "unconfigured start refused as expected (exit 2, names OAUTH2_PROXY_CLIENT_ID)"

# Outside production with no issuer, the demo is wanted but its issuer is a devDependency: a clear
# message, not a stack trace.
set +e
out="$(run bin/portcullis 2>&1)"
code=$?
set -e
[ "$code" -eq 2 ] && grep -q 'demo mode needs the development dependencies' <<<"$out" || die "demo mode without devDependencies: expected exit 2 and a clear message, got $code: $out"
say "demo mode without devDependencies is refused with a clear message"

# The image's HEALTHCHECK: nothing listens on port 9, so it must load and answer exit 1.
set +e
out="$(run env OAUTH2_PROXY_HTTP_ADDRESS=127.0.0.1:9 bin/portcullis healthcheck 2>&1)"
code=$?
set -e
[ "$code" -eq 1 ] && grep -q '^healthcheck: GET /ping' <<<"$out" || die "portcullis healthcheck against a dead port: expected exit 1, got $code: $out"
say "portcullis healthcheck loads and reports a dead proxy (exit 1)"
say "OK"
