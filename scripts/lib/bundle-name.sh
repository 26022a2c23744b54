# The name scripts/dist gives a bundle (its folder, and its tarball without `.tar.gz`), for the
# scripts that build one with it and unpack it. One rule, sourced:
#
#   . scripts/lib/bundle-name.sh
#   name=$(bundle_name VERSION TARGET PROFILE)   # agora-link-0.1.0-aarch64-unknown-linux-gnu[-min]
bundle_name() {
  local suffix=""
  [ "$3" != firmware-min ] || suffix=-min
  printf 'agora-link-%s-%s%s\n' "$1" "$2" "$suffix"
}
