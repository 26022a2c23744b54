# What `scripts/test-all` needs besides cargo: one list, sourced by `.ci/run` (which installs
# what is missing) and by `scripts/test-all` (which names what is missing and stops before the
# first stage). Pure shell, no network: well under a second.
#
#   . scripts/lib/prerequisites.sh
#   prerequisites_missing_packages   # Debian packages whose tools are missing, one a line
#   prerequisites_check              # 0, or a report of everything missing on stderr and 1

# The Debian packages, each with the test that tells whether it is there.
#   C/C++ toolchain, CMake, pkg-config and valgrind: the C API tests (scripts/test-c).
#   Python with venv: the Python binding (its packages come from PyPI into .venv), and the
#     cargo-zigbuild/zig tool venv of scripts/dist.
#   Java 17 and Maven: the Kotlin binding (its dependencies come from Maven Central).
#   mosquitto: the MQTT broker behind the sandbox's IoT gateway (the `mqtt` feature's tests).
#   PostgreSQL: the provisioning service's multi-node backend (scripts/start-postgres).
#   nginx and squid: a TLS front and HTTP proxies for the field-hardening tests.
#   Cross compilers, qemu-user and openssl: the ARM tests (scripts/test-cross).
#   debootstrap: the Debian trixie root with Swift that scripts/test-swift makes once.
_prerequisite_present() { # _prerequisite_present PACKAGE
  case "$1" in
    openjdk-17-jdk-headless) _prerequisite_java17 ;;
    python3-venv) command -v python3 > /dev/null 2>&1 && python3 -c 'import ensurepip, venv' > /dev/null 2>&1 ;;
    mosquitto) command -v mosquitto > /dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] ;;
    postgresql) ls -d /usr/lib/postgresql/*/bin > /dev/null 2>&1 ;;
    nginx) command -v nginx > /dev/null 2>&1 || [ -x /usr/sbin/nginx ] ;;
    squid) command -v squid > /dev/null 2>&1 || [ -x /usr/sbin/squid ] ;;
    gcc-aarch64-linux-gnu) command -v aarch64-linux-gnu-gcc > /dev/null 2>&1 ;;
    gcc-arm-linux-gnueabihf) command -v arm-linux-gnueabihf-gcc > /dev/null 2>&1 ;;
    qemu-user-static) command -v qemu-aarch64-static > /dev/null 2>&1 ;;
    ca-certificates) [ -f /etc/ssl/certs/ca-certificates.crt ] ;;
    debootstrap) command -v debootstrap > /dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] ;;
    maven) command -v mvn > /dev/null 2>&1 ;;
    *) command -v "$1" > /dev/null 2>&1 ;; # gcc g++ cmake make pkg-config valgrind python3 curl unzip openssl
  esac
}
PREREQUISITE_PACKAGES="gcc g++ cmake make pkg-config valgrind python3 python3-venv curl unzip
  openjdk-17-jdk-headless maven mosquitto postgresql nginx squid gcc-aarch64-linux-gnu
  gcc-arm-linux-gnueabihf qemu-user-static openssl ca-certificates debootstrap"

# Java 17 or later on PATH (read from the JDK's path when it names its version; else asked).
_prerequisite_java17() {
  local java major
  java=$(command -v java 2> /dev/null) || return 1
  java=$(readlink -f "$java")
  major=$(printf '%s' "$java" | sed -n 's|.*/jvm/[^/0-9]*\([0-9][0-9]*\)[^/]*/.*|\1|p')
  [ -n "$major" ] || major=$(java -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')
  [ "${major:-0}" -ge 17 ] 2> /dev/null
}

prerequisites_missing_packages() {
  local package
  for package in $PREREQUISITE_PACKAGES; do
    _prerequisite_present "$package" || echo "$package"
  done
}

prerequisites_check() {
  local missing=() packages
  packages=$(prerequisites_missing_packages | tr '\n' ' ')
  packages=${packages% }
  [ -z "$packages" ] || missing+=("Debian packages: $packages
      install: sudo apt-get install $packages")
  if ! command -v rustup > /dev/null 2>&1; then
    missing+=("rustup (the Rust targets, llvm-tools and the nightly toolchain come from it)
      install: https://rustup.rs, then: rustup toolchain install nightly")
  elif ! rustup toolchain list 2> /dev/null | grep '^nightly' > /dev/null; then
    # cargo-fuzz itself is installed by scripts/fuzz when missing.
    missing+=("the nightly toolchain (cargo +nightly fuzz, scripts/fuzz)
      install: rustup toolchain install nightly")
  fi
  if [ "$(id -u)" -ne 0 ] && ! { command -v sudo > /dev/null 2>&1 && sudo -n true 2> /dev/null; }; then
    missing+=("root, or sudo without a password (scripts/test-swift runs debootstrap, chroot and mount)
      run scripts/test-all as root, or allow sudo (sudo -v before the run caches the password)")
  fi
  [ ${#missing[@]} -gt 0 ] || return 0
  {
    echo "scripts/test-all: missing prerequisites:"
    local item
    for item in "${missing[@]}"; do echo "  - $item"; done
    echo "  .ci/run installs all of them (as root or through sudo), then runs scripts/test-all."
  } >&2
  return 1
}
