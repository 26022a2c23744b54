//! Completion notices of async calls for an event loop that waits on a file descriptor, so that
//! no library thread ever calls into the foreign language to wake it: the Python binding's
//! asyncio glue (`bindings/python/python/agora_link/_native_glue.py`).
//!
//! UniFFI wakes a foreign caller through the continuation callback it passed to
//! `rust_future_poll`, on the thread that woke the Rust future: a tokio worker. For Python that
//! callback is a `ctypes` function: the worker waits for the GIL (while the event loop runs
//! Python code, up to the interpreter's 5 ms switch interval), and meanwhile the I/O of every
//! other call on that worker stands still. Here the continuation callback is
//! [`agora_link_py_continuation`], a native function: it pushes the continuation's data onto a
//! lock-free queue of the event loop and, when the queue was empty, writes one byte to a socket
//! the loop watches (`loop.add_reader`); the loop then takes every notice at once with
//! [`agora_link_py_wake_queue_drain`] and resolves its futures on its own thread. No lock and no
//! GIL is taken on a worker, and one wake-up of the loop serves all the calls that completed
//! meanwhile.
//!
//! These functions are not part of the C API or of the UniFFI interface: the Python package
//! calls them through `ctypes`, and falls back to UniFFI's own callback when they are missing or
//! every queue is taken.
//!
//! # Memory and `fork()`
//!
//! The [`QUEUES`] queues live in a static array and are reused, never freed, so a late notice
//! for a queue already released never touches freed memory. Each queue owns a socket pair for
//! the life of the process (the library writes to one end, the loop reads the other; neither is
//! ever closed while the queue may be in use, so the write can never reach a descriptor the host
//! reused, nor raise `SIGPIPE`). A forked child shares those sockets with its parent: its first
//! [`agora_link_py_wake_queue_new`] forgets every inherited queue (their loops are the parent's)
//! and gives each queue it hands out a socket pair of the child's own.

#![cfg(unix)]

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering};
use std::sync::Mutex;

/// How many event loops can hold a queue at once (each has one while it has async calls of
/// the library); beyond that the Python glue uses UniFFI's own callback.
const QUEUES: usize = 64;

/// A continuation's data: the queue's index above bit 40, the slot of its future below.
const SLOT_BITS: u32 = 40;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;

/// One notice: `slot << 1 | poll code` (0 ready, 1 wake).
struct Node {
    notice: u64,
    next: *mut Node,
}

struct Queue {
    /// Handed out by [`agora_link_py_wake_queue_new`] and not yet freed.
    in_use: AtomicBool,
    /// The end the library writes to, -1 until the queue's first use in this process.
    write_fd: AtomicI32,
    /// The end the event loop reads from.
    read_fd: AtomicI32,
    /// The fork generation in which the sockets were made.
    generation: AtomicU64,
    /// The inode numbers of the two sockets, to tell them from whatever a forked child may have
    /// put at the same descriptor numbers after closing its copies.
    read_inode: AtomicU64,
    write_inode: AtomicU64,
    /// The notices not yet drained: a Treiber stack (push by compare-and-swap, drain by swap).
    head: AtomicPtr<Node>,
    /// Notices taken from `head` that did not fit the drainer's buffer, handed to its next
    /// drain (only the draining thread touches it, and claims and releases, which no drain
    /// overlaps).
    backlog: AtomicPtr<Node>,
}

impl Queue {
    const fn empty() -> Queue {
        Queue {
            in_use: AtomicBool::new(false),
            write_fd: AtomicI32::new(-1),
            read_fd: AtomicI32::new(-1),
            generation: AtomicU64::new(0),
            read_inode: AtomicU64::new(0),
            write_inode: AtomicU64::new(0),
            head: AtomicPtr::new(std::ptr::null_mut()),
            backlog: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Drops every notice, queued or in the backlog.
    fn clear(&self) {
        for list in [&self.backlog, &self.head] {
            let mut node = list.swap(std::ptr::null_mut(), Ordering::Acquire);
            while !node.is_null() {
                // SAFETY: every node came from `Box::into_raw` in `push`, and the swap above
                // made this thread its only owner.
                let boxed = unsafe { Box::from_raw(node) };
                node = boxed.next;
            }
        }
    }

    /// Hands up to `capacity` notices to `each` (the backlog first, then the stack, most
    /// recent first), freeing their nodes, and keeps the rest in the backlog; returns how many.
    fn drain(&self, capacity: usize, mut each: impl FnMut(u64)) -> usize {
        let mut node = self.backlog.swap(std::ptr::null_mut(), Ordering::Acquire);
        if node.is_null() {
            node = self.head.swap(std::ptr::null_mut(), Ordering::Acquire);
        }
        let mut taken = 0;
        while !node.is_null() && taken < capacity {
            // SAFETY: as in `clear`: the swaps above made this thread the chain's only owner.
            let boxed = unsafe { Box::from_raw(node) };
            each(boxed.notice);
            taken += 1;
            node = boxed.next;
        }
        // The rest of the chain, whole: O(1), however long it is.
        self.backlog.store(node, Ordering::Release);
        taken
    }

    /// Pushes a notice; true when the stack was empty (the loop needs a wake-up byte).
    fn push(&self, notice: u64) -> bool {
        let node = Box::into_raw(Box::new(Node {
            notice,
            next: std::ptr::null_mut(),
        }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is ours until the exchange below publishes it.
            unsafe { (*node).next = head };
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return head.is_null(),
                Err(current) => head = current,
            }
        }
    }
}

static REGISTRY: [Queue; QUEUES] = [const { Queue::empty() }; QUEUES];

/// Serialises [`agora_link_py_wake_queue_new`] (the fork generation whose queues are in use).
/// Only ever tried: a claim that finds it taken (another loop claiming at the same moment, or
/// a lock inherited across `fork()` from a thread that does not exist in the child) gets 0, and
/// the caller uses UniFFI's callback for that call; nothing waits on it.
static ADMIN: Mutex<u64> = Mutex::new(0);

/// The inode of socket `fd`, or 0 when `fd` is not an open socket.
fn socket_inode(fd: i32) -> u64 {
    // SAFETY: fstat fills a local struct.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if fd < 0 || unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return 0;
    }
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return 0;
    }
    // 32 bits on some targets (armv7 glibc), 64 on others.
    #[allow(clippy::useless_conversion)]
    u64::from(stat.st_ino)
}

/// A nonblocking, close-on-exec Unix socket pair: (read end, write end).
fn socket_pair() -> Option<(i32, i32)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) } != 0 {
        return None;
    }
    for fd in fds {
        // SAFETY: fcntl on descriptors we just made.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
    Some((fds[0], fds[1]))
}

/// Claims a queue for one event loop. Returns its id (1 to [`QUEUES`]) and writes the
/// descriptor to watch for reading to `read_fd`; 0 when every queue is taken or no socket could
/// be made. The descriptor belongs to the library: watch it and read from it, never close it.
/// Thread-safe.
///
/// # Safety
///
/// `read_fd` is a valid pointer to a writable `int`.
#[no_mangle]
pub unsafe extern "C" fn agora_link_py_wake_queue_new(read_fd: *mut i32) -> u32 {
    if read_fd.is_null() {
        return 0;
    }
    let mut generation = match ADMIN.try_lock() {
        Ok(guard) => guard,
        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return 0,
    };
    let current = crate::runtime::fork_generation();
    if *generation != current {
        // Forked: every queue in use belongs to a loop of the parent.
        for queue in &REGISTRY {
            queue.in_use.store(false, Ordering::Release);
        }
        *generation = current;
    }
    for (index, queue) in REGISTRY.iter().enumerate() {
        if queue.in_use.load(Ordering::Acquire) {
            continue;
        }
        if queue.write_fd.load(Ordering::Acquire) < 0
            || queue.generation.load(Ordering::Acquire) != current
        {
            let Some((read, write)) = socket_pair() else {
                return 0;
            };
            let (old_read, old_write) = (
                queue.read_fd.swap(read, Ordering::AcqRel),
                queue.write_fd.swap(write, Ordering::AcqRel),
            );
            let (old_read_inode, old_write_inode) = (
                queue.read_inode.swap(socket_inode(read), Ordering::AcqRel),
                queue
                    .write_inode
                    .swap(socket_inode(write), Ordering::AcqRel),
            );
            // The inherited copies of the parent's sockets: closing them here leaves the
            // parent's open. Only if they still are those sockets: the child may have closed
            // them and opened something else at the same numbers.
            for (fd, inode) in [(old_read, old_read_inode), (old_write, old_write_inode)] {
                if fd >= 0 && inode != 0 && socket_inode(fd) == inode {
                    // SAFETY: a descriptor this library made (in the parent), still that socket.
                    unsafe { libc::close(fd) };
                }
            }
            queue.generation.store(current, Ordering::Release);
        }
        // Notices left from the previous loop, and bytes it did not read.
        queue.clear();
        let read = queue.read_fd.load(Ordering::Acquire);
        let mut sink = [0u8; 256];
        // SAFETY: reads into a local buffer from our own nonblocking socket.
        while unsafe { libc::read(read, sink.as_mut_ptr().cast(), sink.len()) } > 0 {}
        queue.in_use.store(true, Ordering::Release);
        // SAFETY: checked non-null; the caller vouches for the rest.
        unsafe { *read_fd = read };
        return index as u32 + 1;
    }
    0
}

/// Releases a queue claimed by [`agora_link_py_wake_queue_new`] (the event loop stopped watching
/// its descriptor). Notices that arrive for it later are dropped, now or when the queue is
/// claimed again. Unknown ids are ignored. Thread-safe; takes no lock.
#[no_mangle]
pub extern "C" fn agora_link_py_wake_queue_free(id: u32) {
    if let Some(queue) = (id as usize)
        .checked_sub(1)
        .and_then(|index| REGISTRY.get(index))
    {
        // Emptied before it is released: a claim that follows empties it again itself, and
        // nothing of the next owner's is ever dropped here.
        queue.clear();
        queue.in_use.store(false, Ordering::Release);
    }
}

/// The continuation callback to pass to UniFFI's `rust_future_poll` with data
/// `(queue id - 1) << 40 | slot` (slot below 2^40): queues the notice `slot << 1 | poll_code`
/// (0 ready, 1 wake) for the queue's event loop and, when its queue was empty, writes one byte
/// to the socket it watches. Runs on any thread; takes no lock and never blocks; a notice for a
/// queue not in use is dropped.
#[no_mangle]
pub extern "C" fn agora_link_py_continuation(data: u64, poll_code: i8) {
    let Some(queue) = usize::try_from(data >> SLOT_BITS)
        .ok()
        .and_then(|index| REGISTRY.get(index))
    else {
        return;
    };
    if !queue.in_use.load(Ordering::Acquire) {
        return;
    }
    let notice = ((data & SLOT_MASK) << 1) | u64::from(poll_code != 0);
    if queue.push(notice) {
        let fd = queue.write_fd.load(Ordering::Acquire);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let flags = libc::MSG_DONTWAIT;
        // SAFETY: a one-byte buffer; `fd` is this queue's own socket, open for the life of the
        // process. A full socket (EAGAIN) already holds a wake-up byte.
        unsafe { libc::send(fd, [1u8].as_ptr().cast(), 1, flags) };
    }
}

/// Moves up to `capacity` pending notices of queue `id` into `out` and returns how many; call
/// again while it returns `capacity` (what did not fit is kept for the next call, at no cost
/// per notice). Each notice is `slot << 1 | poll_code`. 0 for an unknown id. Called by the
/// event loop's thread after reading the wake-up bytes from its socket; one thread drains a
/// queue at a time.
///
/// # Safety
///
/// `out` points to `capacity` writable `uint64_t`s.
#[no_mangle]
pub unsafe extern "C" fn agora_link_py_wake_queue_drain(
    id: u32,
    out: *mut u64,
    capacity: usize,
) -> usize {
    let Some(queue) = (id as usize)
        .checked_sub(1)
        .and_then(|index| REGISTRY.get(index))
    else {
        return 0;
    };
    if out.is_null() || capacity == 0 {
        return 0;
    }
    let mut written = 0usize;
    queue.drain(capacity, |notice| {
        // SAFETY: `drain` hands out at most `capacity` notices, and the caller vouches for
        // `capacity` slots.
        unsafe { *out.add(written) = notice };
        written += 1;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> (u32, i32) {
        let mut fd = -1;
        // SAFETY: a valid pointer to a local.
        let id = unsafe { agora_link_py_wake_queue_new(&mut fd) };
        (id, fd)
    }

    fn drain(id: u32, capacity: usize) -> Vec<u64> {
        let mut all = Vec::new();
        let mut buffer = vec![0u64; capacity];
        loop {
            // SAFETY: `buffer` has `capacity` slots.
            let count =
                unsafe { agora_link_py_wake_queue_drain(id, buffer.as_mut_ptr(), capacity) };
            all.extend_from_slice(&buffer[..count]);
            if count < capacity {
                return all;
            }
        }
    }

    fn bytes_waiting(fd: i32) -> usize {
        let mut buffer = [0u8; 4096];
        // SAFETY: reads into a local buffer from the queue's nonblocking socket.
        let read = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
        usize::try_from(read).unwrap_or(0)
    }

    /// One test, since the queues are the process's: claiming, notices from many threads
    /// delivered exactly once through a small buffer, one wake-up byte per empty-to-non-empty
    /// change, releases, ids and data out of range, and what happens when every queue is taken.
    #[test]
    fn notices_reach_their_queue_exactly_once() {
        let (id, fd) = claim();
        assert!(id >= 1 && fd >= 0, "{id} {fd}");
        let base = u64::from(id - 1) << SLOT_BITS;

        // Nothing queued: no byte, nothing to drain.
        assert_eq!(bytes_waiting(fd), 0);
        assert!(drain(id, 4).is_empty());

        // Two notices: one byte (the second found the queue non-empty), both drained.
        agora_link_py_continuation(base | 7, 1);
        agora_link_py_continuation(base | 8, 0);
        assert_eq!(bytes_waiting(fd), 1);
        let mut got = drain(id, 4);
        got.sort_unstable();
        assert_eq!(got, vec![7 << 1 | 1, 8 << 1]);

        // 8 threads × 5,000 notices while this thread drains through a 7-slot buffer.
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                std::thread::spawn(move || {
                    for n in 0..5_000u64 {
                        agora_link_py_continuation(base | (t * 5_000 + n), (n % 2) as i8);
                    }
                })
            })
            .collect();
        let mut seen = Vec::new();
        while seen.len() < 40_000 {
            seen.extend(drain(id, 7));
            if threads.iter().all(|t| t.is_finished()) {
                seen.extend(drain(id, 7));
                break;
            }
        }
        for thread in threads {
            thread.join().expect("a pushing thread panicked");
        }
        seen.extend(drain(id, 7));
        let mut slots: Vec<u64> = seen.iter().map(|notice| notice >> 1).collect();
        slots.sort_unstable();
        assert_eq!(slots, (0..40_000).collect::<Vec<u64>>());
        assert!(
            seen.iter().all(|n| (n >> 1) % 2 == n & 1),
            "poll codes kept"
        );

        // 200,000 notices drained one at a time: each drain costs the same however many wait.
        for slot in 0..200_000u64 {
            agora_link_py_continuation(base | slot, 1);
        }
        let _ = bytes_waiting(fd);
        let mut count = 0usize;
        let mut one = [0u64; 1];
        // SAFETY: `one` has 1 slot.
        while unsafe { agora_link_py_wake_queue_drain(id, one.as_mut_ptr(), 1) } == 1 {
            count += 1;
        }
        assert_eq!(count, 200_000);

        // Out of range: ignored, no panic.
        agora_link_py_continuation(u64::MAX, 1);
        agora_link_py_continuation((QUEUES as u64) << SLOT_BITS, 1);
        agora_link_py_wake_queue_free(0);
        agora_link_py_wake_queue_free(QUEUES as u32 + 1);
        agora_link_py_wake_queue_free(u32::MAX);
        // SAFETY: null and zero-capacity outputs are refused before use.
        unsafe {
            assert_eq!(
                agora_link_py_wake_queue_drain(id, std::ptr::null_mut(), 4),
                0
            );
            assert_eq!(
                agora_link_py_wake_queue_drain(0, std::ptr::null_mut(), 4),
                0
            );
            assert_eq!(agora_link_py_wake_queue_new(std::ptr::null_mut()), 0);
        }

        // Released: later notices are dropped, and a new claim starts empty.
        let _ = bytes_waiting(fd);
        agora_link_py_wake_queue_free(id);
        agora_link_py_continuation(base | 99, 0);
        assert!(drain(id, 4).is_empty());

        // Every queue taken: the next claim gets 0; one released: claimable again, empty.
        let mut claimed: Vec<u32> = Vec::new();
        loop {
            let (next, _) = claim();
            if next == 0 {
                break;
            }
            claimed.push(next);
        }
        assert_eq!(claimed.len(), QUEUES);
        let reused = claimed[0];
        let reused_base = u64::from(reused - 1) << SLOT_BITS;
        agora_link_py_continuation(reused_base | 5, 0);
        agora_link_py_wake_queue_free(reused);
        let (again, again_fd) = claim();
        assert_eq!(again, reused);
        assert!(drain(again, 4).is_empty(), "a new owner sees no old notice");
        assert_eq!(bytes_waiting(again_fd), 0, "nor an old wake-up byte");
        for id in claimed {
            agora_link_py_wake_queue_free(id);
        }
    }
}
