//! What first touching fresh memory costs on this machine, per 4 KiB page.
//!
//! `cargo run --release --bin page_touch [MiB]` (in `benches/peers/`;
//! default 1024). Allocates zeroed memory (the allocator maps fresh pages
//! from the kernel for a block this large), writes one byte in every page
//! (each write faults a page in), then writes them all again (no faults):
//! the difference is what the kernel and the hypervisor charge per page of
//! new memory. A store that keeps more bytes per token pays this share of
//! it on every insert that grows the heap; see BENCHMARKS.md.

use std::{hint::black_box, time::Instant};

const PAGE: usize = 4096;

fn touch(memory: &mut [u8]) -> f64 {
    let start = Instant::now();
    for page in memory.chunks_mut(PAGE) {
        page[0] = page[0].wrapping_add(1);
    }
    black_box(&memory);
    start.elapsed().as_nanos() as f64 / (memory.len() / PAGE) as f64
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    for round in 1..=3 {
        let mut memory = vec![0u8; mib << 20];
        let first = touch(&mut memory);
        let again = touch(&mut memory);
        println!(
            "round {round}: {mib} MiB, first touch {first:.0} ns per page, \
             second touch {again:.0} ns per page"
        );
    }
}
