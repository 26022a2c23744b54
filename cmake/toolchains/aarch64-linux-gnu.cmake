# CMake toolchain file: 64-bit ARM Linux with glibc (Debian's gcc-aarch64-linux-gnu, or any
# aarch64-linux-gnu-gcc on PATH; a Yocto/Buildroot SDK sets these itself).
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
#         -DCMAKE_FIND_ROOT_PATH=<agora-link bundle> -DCMAKE_PREFIX_PATH=<agora-link bundle> ...
# Environment: CROSS_COMPILE (prefix, default aarch64-linux-gnu-), SYSROOT (default
# /usr/aarch64-linux-gnu, Debian's multiarch cross root).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(_prefix "$ENV{CROSS_COMPILE}")
if(NOT _prefix)
  set(_prefix aarch64-linux-gnu-)
endif()
set(CMAKE_C_COMPILER ${_prefix}gcc)
set(CMAKE_CXX_COMPILER ${_prefix}g++)
set(_sysroot "$ENV{SYSROOT}")
if(NOT _sysroot)
  set(_sysroot /usr/aarch64-linux-gnu)
endif()
# Keep roots given with -DCMAKE_FIND_ROOT_PATH=... (an unpacked agora-link bundle, say).
list(APPEND CMAKE_FIND_ROOT_PATH ${_sysroot})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L ${_sysroot})
