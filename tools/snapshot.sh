# Sourced by tools/build_wheel.sh and tools/test_oldest.sh: the sources from one snapshot, so that no stale build
# (build/, *.so) reaches what they install.
#   snapshot_sources DIR HEAD   HEAD=1: the committed HEAD (git archive); 0: the working tree's tracked files and
#                               its untracked files that git does not ignore
snapshot_sources() {
  local dir=$1 head=$2
  mkdir -p "$dir"
  if ((head)); then
    git archive HEAD | tar -xf - -C "$dir"
  else
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done \
      | tar --null -T - -cf - | tar -xf - -C "$dir"
  fi
}
