//! Peak stack use by painting: before the run, every word between the end
//! of static RAM and a little below the current stack pointer is set to a
//! pattern; afterwards, the lowest word that no longer holds it marks the
//! deepest the stack went.

use core::ptr::addr_of;

const PAINT: u32 = 0xACAC_ACAC;
/// Left untouched below the stack pointer while painting: the painting
/// function's own frame.
const MARGIN: usize = 256;

extern "C" {
    /// The end of static data (.data + .bss + .uninit): the stack's floor.
    static __sheap: u32;
    /// The start of RAM.
    static __sdata: u32;
    /// The initial stack pointer: the top of RAM.
    static _stack_start: u32;
}

fn floor() -> usize {
    addr_of!(__sheap) as usize
}

fn top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Paints the free stack.
#[inline(never)]
pub(crate) fn paint() {
    let sp = cortex_m::register::msp::read() as usize;
    let mut at = floor();
    while at + 4 <= sp - MARGIN {
        // SAFETY: [floor, sp - MARGIN) is RAM that no live object uses:
        // above all static data and below every stack frame.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// The most stack used since [`paint`], in bytes.
#[inline(never)]
pub(crate) fn peak_use() -> usize {
    let mut at = floor();
    // SAFETY: reads RAM between the static data and the stack top.
    while at < top() && unsafe { core::ptr::read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    top() - at
}

/// Static RAM: .data + .bss (+ .uninit), in bytes.
pub(crate) fn static_ram() -> usize {
    floor() - addr_of!(__sdata) as usize
}
