# CMake toolchain file: 64-bit ARM Linux with musl, fully static executables (the
# aarch64-unknown-linux-musl bundle). Any aarch64-linux-musl-gcc works: a musl.cc or Buildroot
# toolchain, or `zig cc -target aarch64-linux-musl` behind a wrapper of that name (what CI uses).
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-musl.cmake \
#         -DCMAKE_FIND_ROOT_PATH=<bundle> -DCMAKE_PREFIX_PATH=<bundle> -DAGORA_LINK_STATIC=ON ...
# Environment: CROSS_COMPILE (prefix, default aarch64-linux-musl-), SYSROOT (optional).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(_prefix "$ENV{CROSS_COMPILE}")
if(NOT _prefix)
  set(_prefix aarch64-linux-musl-)
endif()
set(CMAKE_C_COMPILER ${_prefix}gcc)
set(CMAKE_CXX_COMPILER ${_prefix}g++)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
if(DEFINED ENV{SYSROOT})
  list(APPEND CMAKE_FIND_ROOT_PATH $ENV{SYSROOT})
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)
