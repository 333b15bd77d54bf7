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

# expect CODE PATTERN WHAT -- COMMAND…: run COMMAND as above; it must exit CODE, print a line
# matching PATTERN, and never report a missing module (a dependency hiding in devDependencies).
expect() {
  local want_code=$1 pattern=$2 what=$3; shift 4
  local out code
  set +e; out="$(run "$@" 2>&1)"; code=$?; set -e
  if [ "$code" -ne "$want_code" ] || ! grep -qE "$pattern" <<<"$out" \
     || grep -qiE 'cannot find (module|package)|ERR_MODULE_NOT_FOUND' <<<"$out"; then
    printf '%s\n' "$out" >&2
    die "$what: expected exit $want_code and output matching /$pattern/, got exit $code"
  fi
  say "$what: exit $code as expected"
}

# cli.js imports the whole proxy statically before validation runs, so a validation error proves
# the production dependencies are enough to load it.
expect 2 'OAUTH2_PROXY_CLIENT_ID' 'NODE_ENV=production with no configuration is refused' -- env NODE_ENV=production bin/portcullis
# Outside production with no issuer the demo is wanted, but its issuer is a devDependency.
expect 2 'demo mode needs the development dependencies' 'demo mode without devDependencies is refused clearly' -- bin/portcullis
# The image's HEALTHCHECK: nothing listens on port 9, so it must load and answer exit 1.
expect 1 '^healthcheck: GET /ping' 'portcullis healthcheck reports a dead proxy' -- env OAUTH2_PROXY_HTTP_ADDRESS=127.0.0.1:9 bin/portcullis healthcheck
say "OK"
