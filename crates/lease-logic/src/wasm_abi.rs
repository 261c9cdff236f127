//! The module's ABI: what the plain `wasm32-unknown-unknown` build exports.
//!
//! This is how a WASM engine that knows nothing about Rust drives the core. The module imports
//! nothing and exports:
//!
//! | export | signature | meaning |
//! |---|---|---|
//! | `memory` | memory | the module's linear memory, where requests and decisions live |
//! | `abi_version` | `() -> i32` | [`ABI_VERSION`]; a host refuses any other value |
//! | `alloc` | `(len: i32) -> i32` | a buffer of `len` bytes for the caller; `0` when memory is exhausted |
//! | `dealloc` | `(ptr: i32, len: i32)` | gives back a buffer from `alloc` or `evaluate`, with its length |
//! | `evaluate` | `(ptr: i32, len: i32) -> i64` | reads a request document, returns the decision buffer as `ptr << 32 \| len` |
//!
//! Ownership: the caller owns every buffer it is handed. It fills a buffer from `alloc` with the
//! request bytes, calls `evaluate`, which only reads them, copies the decision out and then
//! `dealloc`s both, the request with the length it asked for and the decision with the length
//! `evaluate` reported. A caller that throws the whole instance away after one call may skip the
//! `dealloc`s. Both documents are SPEC.md section 5's, as [`crate::evaluate_json`] reads and writes
//! them; `evaluate` never traps on any input bytes.
//!
//! The module carries its own allocator, `Heap`: Rust's default on this target (dlmalloc) takes
//! every block of heap from `memory.grow` and never uses the pages that are already there, so
//! each fresh instance would grow its memory (a runtime call and, in wasmtime, an `mprotect`)
//! before it could decide anything. The build links the module with an initial memory that holds
//! the stack plus about 1.7 MiB of heap, and `Heap` carves that space first, so a decision of any
//! ordinary size never grows memory.

// `unsafe` is allowed in this module only. It is sound because:
// - the exports take raw pointers from the host, but only ever as the ABI above defines them:
//   `evaluate` reads `len` bytes at `ptr`, which the caller got from `alloc(len)` and filled, and
//   `dealloc` frees exactly what `alloc` or `evaluate` handed out, with the same layout (a byte
//   array of that length). A host that breaks the contract can only corrupt this instance's own
//   linear memory, which the sandbox confines; a read outside memory traps.
// - the allocator's state is a plain global mutated without locks: this target has no threads
//   (the `atomics` feature is off, checked below), so no two calls can ever overlap.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::arch::wasm32;
use std::cell::UnsafeCell;
use std::ptr::{self, NonNull};

#[cfg(target_feature = "atomics")]
compile_error!("the wasm ABI's allocator assumes a single-threaded module (no `atomics`)");

/// The version of this ABI, returned by the `abi_version` export. It changes whenever an export
/// or the ownership rules change, never for a change in the documents' content.
pub const ABI_VERSION: u32 = 1;

/// Export: the ABI version this module speaks ([`ABI_VERSION`]).
#[unsafe(no_mangle)]
pub extern "C" fn abi_version() -> u32 {
    ABI_VERSION
}

/// Export: a buffer of `len` bytes owned by the caller, or null (`0`) when memory is exhausted.
///
/// `alloc(0)` returns a non-null pointer that must not be read or written; `dealloc` of it with
/// length `0` does nothing.
#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    if len == 0 {
        return NonNull::dangling().as_ptr();
    }
    match Layout::array::<u8>(len) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { std::alloc::alloc(layout) },
        Err(_) => ptr::null_mut(),
    }
}

/// Export: gives back a buffer that `alloc(len)` or `evaluate` (with its reported length) handed out.
///
/// # Safety
/// `ptr` and `len` must be exactly a buffer from `alloc` or `evaluate`, not yet given back.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    if len == 0 || ptr.is_null() {
        return;
    }
    if let Ok(layout) = Layout::array::<u8>(len) {
        // SAFETY: by the contract above, `ptr` came from `alloc` with this very layout.
        unsafe { std::alloc::dealloc(ptr, layout) }
    }
}

/// Export: evaluates the request document in `ptr[..len]` and returns the decision document's
/// buffer as `ptr << 32 | len`. The caller owns the decision buffer and gives it back with
/// `dealloc(ptr, len)`; the request buffer is only read and stays the caller's.
///
/// # Safety
/// `ptr[..len]` must be readable: a buffer from `alloc(len)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn evaluate(ptr: *const u8, len: usize) -> u64 {
    let request: &[u8] = if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: by the contract above the caller hands over `len` initialised bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    };
    let decision = crate::evaluate_json(request).into_boxed_slice();
    let len = decision.len();
    // The box was allocated as a byte array of exactly `len` bytes, which is the layout `dealloc`
    // rebuilds from the reported length.
    let ptr = Box::into_raw(decision).cast::<u8>();
    ((ptr as usize as u64) << 32) | len as u64
}

/// The module's global allocator: power-of-two size classes with a free list each, carved from
/// the heap the module starts with and only then from `memory.grow`.
///
/// Freed blocks go on their class's list and serve the next request of that class. When every
/// block has been given back (a warm instance between two requests) the whole heap is reset, so
/// a long-lived instance does not fragment. Wasted space is at most half of each block.
struct Heap(UnsafeCell<HeapState>);

/// The allocator's bookkeeping; `next == 0` until the first allocation.
struct HeapState {
    /// The first byte not yet carved.
    next: usize,
    /// The end of linear memory as last seen.
    end: usize,
    /// Blocks handed out and not given back.
    live: usize,
    /// Per size class (`1 << index` bytes), the first free block; each free block holds the
    /// address of the next one, `0` ending the list.
    free: [usize; CLASSES],
}

/// Number of size classes: blocks of `1 << k` bytes for `k < CLASSES`.
const CLASSES: usize = 32;
/// The smallest block: room for a free-list link and the strictest alignment Rust uses here.
const MIN_BLOCK: usize = 16;
/// WebAssembly's page size.
const PAGE: usize = 65536;

unsafe extern "C" {
    /// Defined by the linker: the first byte after the stack and the static data.
    static __heap_base: u8;
}

// SAFETY: the module is single-threaded (see the `atomics` check above), so the state is never
// touched by two threads.
unsafe impl Sync for Heap {}

/// The size class of a layout: the block size's log2.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(MIN_BLOCK);
    let block = size.checked_next_power_of_two()?;
    let k = block.trailing_zeros() as usize;
    (k < CLASSES).then_some(k)
}

/// Rounds `n` up to a multiple of `align` (a power of two), `None` on overflow.
fn align_up(n: usize, align: usize) -> Option<usize> {
    Some(n.checked_add(align - 1)? & !(align - 1))
}

impl Heap {
    /// A heap that starts at `__heap_base` on first use.
    const fn new() -> Self {
        Heap(UnsafeCell::new(HeapState { next: 0, end: 0, live: 0, free: [0; CLASSES] }))
    }
}

impl HeapState {
    fn base() -> usize {
        align_up((&raw const __heap_base).addr(), MIN_BLOCK).unwrap_or(usize::MAX)
    }

    /// Carves `block` bytes aligned to `align` from the untouched end of the heap, growing
    /// memory when the pages already there do not suffice. Returns `0` when memory is exhausted.
    fn carve(&mut self, block: usize, align: usize) -> usize {
        if self.next == 0 {
            self.next = Self::base();
            self.end = wasm32::memory_size(0) * PAGE;
        }
        let Some(start) = align_up(self.next, align.max(MIN_BLOCK)) else {
            return 0;
        };
        let Some(stop) = start.checked_add(block) else {
            return 0;
        };
        if !self.reserve(stop) {
            return 0;
        }
        self.next = stop;
        start
    }

    /// Makes sure linear memory reaches `stop`, growing it by whole pages.
    fn reserve(&mut self, stop: usize) -> bool {
        if stop <= self.end {
            return true;
        }
        let pages = (stop - self.end).div_ceil(PAGE);
        if wasm32::memory_grow(0, pages) == usize::MAX {
            return false;
        }
        self.end = wasm32::memory_size(0) * PAGE;
        stop <= self.end
    }
}

// SAFETY: every block handed out is `1 << class` bytes, aligned as the layout asks, disjoint from
// every other live block (carved once from the untouched end, or taken off a free list it was put
// on when given back), and inside linear memory.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded, and no reference into the state outlives this call.
        let heap = unsafe { &mut *self.0.get() };
        let Some(k) = class_of(layout) else {
            return ptr::null_mut();
        };
        let head = heap.free[k];
        let block = if head != 0 && head % layout.align() == 0 {
            // SAFETY: `head` is a free block of this class; its first word links to the next.
            heap.free[k] = unsafe { *(head as *const usize) };
            head
        } else {
            heap.carve(1 << k, layout.align())
        };
        if block == 0 {
            return ptr::null_mut();
        }
        heap.live += 1;
        block as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: single-threaded, and no reference into the state outlives this call.
        let heap = unsafe { &mut *self.0.get() };
        let Some(k) = class_of(layout) else { return };
        heap.live -= 1;
        if heap.live == 0 {
            // Nothing points into the heap any more: start over from its base.
            heap.next = HeapState::base();
            heap.free = [0; CLASSES];
            return;
        }
        // SAFETY: `ptr` is a block of class `k` (at least 16 bytes, 16-aligned) that the caller
        // no longer uses; its first word becomes the list link.
        unsafe { *(ptr as *mut usize) = heap.free[k] };
        heap.free[k] = ptr as usize;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        let (Some(old_k), Some(new_k)) = (class_of(layout), class_of(new_layout)) else {
            return ptr::null_mut();
        };
        if old_k == new_k {
            return ptr;
        }
        {
            // SAFETY: single-threaded, and this reference ends before any other call.
            let heap = unsafe { &mut *self.0.get() };
            let start = ptr as usize;
            // The last block carved can grow or shrink where it is.
            if start + (1 << old_k) == heap.next {
                let stop = start + (1 << new_k);
                if heap.reserve(stop) {
                    heap.next = stop;
                    return ptr;
                }
                return ptr::null_mut();
            }
        }
        // SAFETY: `new_layout` has a non-zero size (the class is at least 16 bytes).
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are live, disjoint, and at least `min(old, new)` bytes long.
            unsafe {
                ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

#[global_allocator]
static HEAP: Heap = Heap::new();
