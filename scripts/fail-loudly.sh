# Sourced by every script here: on any failing command, print the script, its stage (set STAGE),
# the command and its exit status (with the signal's name above 128), then exit with that status.
STAGE=${STAGE:-start}
on_error() {
  local rc=$1 cmd=$2 why=""
  [ "$rc" -gt 128 ] && why=" (killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo "?"))"
  printf '\n%s FAILED in stage "%s"\n  command: %s\n  exit status: %d%s\n' "$0" "$STAGE" "$cmd" "$rc" "$why" >&2
  exit "$rc"
}
trap 'on_error "$?" "$BASH_COMMAND"' ERR
# die MESSAGE: a clear failure of our own (not a failed command), reported the same way.
die() {
  printf '\n%s FAILED in stage "%s"\n  %s\n' "$0" "$STAGE" "$1" >&2
  exit 1
}
