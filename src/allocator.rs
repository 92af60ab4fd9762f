//! The CLI's global allocator: mimalloc, called the way its C API is fastest.
//!
//! The simulation allocates and frees a small box per simulated message, timer and task wake;
//! glibc malloc spent ~17% of a standard-scenario seed's instructions on that (callgrind).
//! mimalloc's thread-local free lists make it cheap and return memory between seeds of a sweep.
//! No behaviour depends on addresses, so histories are unchanged.
//!
//! The `mimalloc` crate's own `GlobalAlloc` passes every request to `mi_malloc_aligned`, whose
//! alignment checks cost about as much again as the allocation (2.15 M calls per standard seed,
//! ~60 instructions each). Nearly every Rust allocation asks for at most word alignment, which
//! every mimalloc block has, so those go to plain `mi_malloc`; the rest keep the aligned calls.

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc, mi_zalloc_aligned,
};
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The alignment every mimalloc block has: blocks are whole words (`MI_INTPTR_SIZE`) apart
/// from a page start that is 16-aligned.
const WORD: usize = std::mem::size_of::<usize>();

pub struct MiMalloc;

// SAFETY: mimalloc returns blocks of at least the requested size, aligned to a word for the
// plain calls and to `layout.align()` for the aligned ones; `mi_free` takes either.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi_malloc(layout.size()).cast()
        } else {
            mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi_zalloc(layout.size()).cast()
        } else {
            mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alignment up to a page, at sizes around block-size boundaries, comes back aligned
    /// and usable, through alloc, alloc_zeroed and realloc.
    #[test]
    fn blocks_are_aligned_as_asked() {
        let a = MiMalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 9, 24, 40, 100, 1000, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).expect("valid layout");
                // SAFETY: non-zero sizes; every pointer is freed with the layout it was made with.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null() && (p as usize) & (align - 1) == 0, "alloc {size} aligned {align}");
                    p.write_bytes(0xAB, size);
                    let p = a.realloc(p, layout, size * 2);
                    assert!(!p.is_null() && (p as usize) & (align - 1) == 0, "realloc {size} aligned {align}");
                    assert_eq!(*p.add(size - 1), 0xAB, "realloc keeps the contents");
                    a.dealloc(p, Layout::from_size_align(size * 2, align).expect("valid layout"));
                    let z = a.alloc_zeroed(layout);
                    assert!(!z.is_null() && (z as usize) & (align - 1) == 0, "zalloc {size} aligned {align}");
                    assert!((0..size).all(|i| *z.add(i) == 0), "zalloc {size} is zeroed");
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
