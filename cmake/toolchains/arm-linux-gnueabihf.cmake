# CMake toolchain file: 32-bit ARM (ARMv7, hard float) Linux with glibc (Debian's gcc-arm-linux-gnueabihf, or any
# arm-linux-gnueabihf-gcc on PATH; a Yocto/Buildroot SDK sets these itself).
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/arm-linux-gnueabihf.cmake \
#         -DCMAKE_FIND_ROOT_PATH=<agora-link bundle> -DCMAKE_PREFIX_PATH=<agora-link bundle> ...
# Environment: CROSS_COMPILE (prefix, default arm-linux-gnueabihf-), SYSROOT (default
# /usr/arm-linux-gnueabihf, Debian's multiarch cross root).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(_prefix "$ENV{CROSS_COMPILE}")
if(NOT _prefix)
  set(_prefix arm-linux-gnueabihf-)
endif()
set(CMAKE_C_COMPILER ${_prefix}gcc)
set(CMAKE_CXX_COMPILER ${_prefix}g++)
set(_sysroot "$ENV{SYSROOT}")
if(NOT _sysroot)
  set(_sysroot /usr/arm-linux-gnueabihf)
endif()
# Keep roots given with -DCMAKE_FIND_ROOT_PATH=... (an unpacked agora-link bundle, say).
list(APPEND CMAKE_FIND_ROOT_PATH ${_sysroot})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm-static -L ${_sysroot})
