//! A global allocator that overwrites every block with zeros before handing it back to the
//! system allocator (feature `wipe-on-free`).
//!
//! Secrets pass through buffers the library does not own: hyper's read and write buffers,
//! rustls's plaintext and record buffers, serde_json's scratch space, `String`s built while
//! formatting a header or a presigned URL. Wiping the library's own secret objects
//! ([`crate::SecretString`]) is not enough: a core dump taken after the host freed a login would
//! still show the raw login answer in freed heap blocks. With this allocator every heap block the
//! library (and the Rust code it links: tokio, hyper, rustls, serde) frees is zeroed first, so
//! freed memory holds no secret.
//!
//! What it does not cover: memory the library still uses (a live login, the cached REST token,
//! pooled connections' buffers until the connection closes — `agora_link_shutdown` closes them),
//! the kernel's socket buffers, and values that only ever lived in registers or on a thread's
//! stack. The C library and the binding packages are built with it (`scripts/install-c`, the
//! Python wheel, the Kotlin JAR, the Swift XCFramework); Rust programs that depend on the crate
//! choose it with the `wipe-on-free` feature, unless they install a global allocator of their own.
//! Cost: one `memset` of each freed block, kept by an optimisation barrier (measured in the README's performance table).

use std::alloc::{GlobalAlloc, Layout, System};

/// The allocator: [`System`], with every freed or moved block zeroed first.
#[derive(Debug, Default, Clone, Copy)]
pub struct WipingAllocator;

/// Overwrites `len` bytes at `ptr` with zeros in a way the compiler may not elide.
///
/// # Safety
/// `ptr` is valid for writes of `len` bytes.
unsafe fn wipe(ptr: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    // What glibc's `explicit_bzero` does, without needing glibc 2.25 (the library loads on
    // 2.17) or any libc symbol: a plain `memset`, then the pointer handed to an empty `asm!`
    // without `nomem`, which the compiler must assume reads the block, so the stores cannot be
    // removed as dead before `free`. Block-sized `memset` speed, unlike byte-wise volatile writes.
    // SAFETY: forwarded contract.
    unsafe { std::ptr::write_bytes(ptr, 0, len) };
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "riscv32",
        target_arch = "loongarch64"
    ))]
    // SAFETY: an empty instruction sequence; it only names the pointer.
    unsafe {
        std::arch::asm!("/* {0} */", in(reg) ptr, options(nostack, preserves_flags));
    }
    // The standard library's best-effort barrier as well: the only one on architectures without
    // a stable `asm!`, free where the `asm!` already ran.
    std::hint::black_box(ptr);
}

// SAFETY: every method forwards to `System` with the same layouts; blocks are only written
// (zeroed) while the caller still owns them.
unsafe impl GlobalAlloc for WipingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout`, owned by the caller until freed.
        unsafe {
            wipe(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The system's realloc may move the block and free the old one unwiped: move it here.
        // SAFETY: `new_size` is non-zero and does not overflow `isize` rounded to the alignment
        // (the `GlobalAlloc::realloc` contract); the old block is live until `dealloc`.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let moved = System.alloc(new_layout);
            if moved.is_null() {
                return moved;
            }
            std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
            self.dealloc(ptr, layout);
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_zeroed_before_they_are_freed_or_moved() {
        let allocator = WipingAllocator;
        let layout = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: a fresh block of `layout`, written and read within its bounds.
        unsafe {
            let block = allocator.alloc(layout);
            assert!(!block.is_null());
            std::ptr::write_bytes(block, 0xA5, 64);
            let grown = allocator.realloc(block, layout, 256);
            assert!(!grown.is_null());
            assert!((0..64).all(|i| *grown.add(i) == 0xA5), "contents kept");
            let grown_layout = Layout::from_size_align(256, 8).unwrap();
            let shrunk = allocator.realloc(grown, grown_layout, 16);
            assert!((0..16).all(|i| *shrunk.add(i) == 0xA5));
            wipe(shrunk, 16);
            assert!((0..16).all(|i| *shrunk.add(i) == 0));
            allocator.dealloc(shrunk, Layout::from_size_align(16, 8).unwrap());
        }
    }
}
