#!/usr/bin/env bash
# The services the suite needs besides Python packages, set up by `make test` itself:
#   - the local PostgreSQL (127.0.0.1:5432): started when installed but not running;
#   - Debian's Chromium (/usr/bin/chromium, driven by Playwright in tests/web) and Dovecot
#     (/usr/sbin/dovecot, the bounce-mailbox tests): installed when missing and this user
#     may install packages (root, or sudo without a password).
# What it cannot do it says, naming the command to run; those tests then skip (under CI,
# with CI set, they fail instead). It never fails the build by itself.
#
# The commands are variables so a test can run this script against stand-ins:
#   PG_ISREADY PG_CTLCLUSTER PG_CONF_DIR APT_GET CHROMIUM DOVECOT SUDO
set -u

PG_ISREADY=${PG_ISREADY:-pg_isready}
PG_CTLCLUSTER=${PG_CTLCLUSTER:-pg_ctlcluster}
PG_CONF_DIR=${PG_CONF_DIR:-/etc/postgresql}
APT_GET=${APT_GET:-apt-get}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
DOVECOT=${DOVECOT:-/usr/sbin/dovecot}
SUDO=${SUDO:-sudo}
PG_WAIT_S=${PG_WAIT_S:-30}

say() { echo "make test: $*" >&2; }

# Run a command as root: directly when we are root, through passwordless sudo otherwise.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v "$SUDO" >/dev/null 2>&1 && "$SUDO" -n true 2>/dev/null; then "$SUDO" -n "$@"
  else return 127
  fi
}

postgres() {
  if [ -n "${NOTIFIER_TEST_PG_URL:-}" ]; then
    return  # the tests were pointed at another server: not ours to start
  fi
  if ! command -v "$PG_ISREADY" >/dev/null 2>&1; then
    say "PostgreSQL is not installed (sudo apt-get install postgresql); its tests will skip"
    return
  fi
  "$PG_ISREADY" -h 127.0.0.1 -p 5432 -q && return
  local version
  version=$(ls "$PG_CONF_DIR" 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ] || ! command -v "$PG_CTLCLUSTER" >/dev/null 2>&1; then
    say "PostgreSQL is not answering on 127.0.0.1:5432; start it — its tests will skip"
    return
  fi
  say "starting PostgreSQL $version/main"
  if ! as_root "$PG_CTLCLUSTER" --skip-systemctl-redirect "$version" main start; then
    say "could not start PostgreSQL: run sudo pg_ctlcluster $version main start"
    return
  fi
  local waited=0
  until "$PG_ISREADY" -h 127.0.0.1 -p 5432 -q; do
    if [ "$waited" -ge "$PG_WAIT_S" ]; then
      say "PostgreSQL $version/main started but does not answer on 127.0.0.1:5432"
      return
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

# package PATH NAME WHAT: install Debian's NAME when PATH is missing.
package() {
  local path=$1 name=$2 what=$3
  [ -x "$path" ] && return
  if ! command -v "$APT_GET" >/dev/null 2>&1; then
    say "$name is missing at $path and there is no apt-get: install it; $what will skip"
    return
  fi
  say "installing Debian's $name ($what need $path)"
  if as_root "$APT_GET" update -qq &&
     as_root env DEBIAN_FRONTEND=noninteractive "$APT_GET" install -y -qq "$name"; then
    return
  fi
  say "$name is missing at $path: run sudo apt-get install $name; $what will skip until then"
}

postgres
package "$CHROMIUM" chromium "the browser tests (tests/web, Playwright)"
package "$DOVECOT" dovecot-imapd "the bounce-mailbox tests (a real Dovecot)"
exit 0
