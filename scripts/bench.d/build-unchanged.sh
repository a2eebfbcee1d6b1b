# shellcheck shell=bash
# Sourced by scripts/bench: build-unchanged is written with build-changed
# (scripts/bench.d/build-changed.sh), whose project and proxies it shares.
# shellcheck source=scripts/bench.d/build-changed.sh
source "$HELPERS/build-changed.sh"
