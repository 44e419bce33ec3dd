#!/usr/bin/env bash
# Make sure a Java 17+ runtime is there for Spark 4; install Debian's headless JRE when it is not.
# Idempotent and quiet when Java is fine. Used by `make test` and .ci/run before the Spark tests.
#   ensure-java.sh           check, install if missing (needs root or sudo, and apt)
#   ensure-java.sh --check   check only: exit 1 if no usable Java
set -euo pipefail
MIN=17

java_major() {
    local java="$1" version
    version=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9.]*\).*/\1/p' | head -n1) || return 1
    [ -n "$version" ] || return 1
    case "$version" in
        1.*) echo "$version" | cut -d. -f2 ;;  # 1.8.0_392 -> 8
        *) echo "$version" | cut -d. -f1 ;;
    esac
}

usable() {
    local java major
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        java="$JAVA_HOME/bin/java"
    else
        java=$(command -v java 2>/dev/null) || return 1
    fi
    major=$(java_major "$java") || return 1
    [ "$major" -ge "$MIN" ] && echo "java $major at $java"
}

if found=$(usable); then
    echo "ensure-java: $found"
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "ensure-java: no Java $MIN+ runtime (Spark 4 needs one)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-java: no Java $MIN+ runtime and no apt-get here; install a JRE $MIN+ and set JAVA_HOME" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "ensure-java: installing Java needs root (or sudo)" >&2
        exit 1
    fi
fi
echo "ensure-java: installing Debian's headless JRE (default-jre-headless)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# default-jre-headless is Java 17 on Debian 12 and 21 on Debian 13; both run Spark 4.
$SUDO apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null
if found=$(usable); then
    echo "ensure-java: $found"
    exit 0
fi
echo "ensure-java: installed a JRE but found no Java $MIN+; set JAVA_HOME to one" >&2
exit 1
