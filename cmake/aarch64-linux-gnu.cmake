# Cross-compiling for 64-bit Arm Linux from an x86-64 Debian machine, with the tests run under
# qemu-user (scripts/test-arm64.sh installs the cross compiler, qemu and the arm64 libraries).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Libraries and headers: Debian's multiarch arm64 packages (libhwy-dev:arm64 ...).
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
# ctest runs the test binary (and the tests run the CLI) through qemu. No -L prefix: the
# arm64 loader and libraries come from the multiarch libc6:arm64 in the host's /lib (qemu 7.2
# with -L /usr/aarch64-linux-gnu hangs at the first pthread_create).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
