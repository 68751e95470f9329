//! Floating-point environment.
//!
//! faer stores matrices with their columns padded to the SIMD width and leaves the
//! padding rows uninitialised; its matrix-product kernels compute on whole registers,
//! padding included. Recycled heap memory there often holds pointers, whose bit
//! patterns are subnormal doubles, and arithmetic on subnormals takes a microcode
//! assist: we measured small products (20×30 by 30×256) running 30× slower once the
//! heap had been reused. Flushing subnormals to zero makes the garbage lanes free.
//!
//! Results change only where a genuine value would be subnormal (|x| < 2.2e-308), which
//! our computations never rely on. The mode is per thread, so every thread that
//! computes stage outputs sets it on entry, whatever the thread count.

/// Sets flush-to-zero and denormals-are-zero for the calling thread (x86-64; a no-op
/// elsewhere). Idempotent.
pub fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reading and writing MXCSR only changes this thread's SSE rounding/flush
    // mode bits (FTZ = bit 15, DAZ = bit 6), which every x86-64 CPU supports.
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
        csr |= (1 << 15) | (1 << 6);
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn subnormals_are_flushed_on_this_thread_only() {
        let tiny = std::hint::black_box(f64::MIN_POSITIVE);
        std::thread::spawn(move || {
            assert!(
                std::hint::black_box(tiny / 4.0) > 0.0,
                "subnormals exist by default"
            );
            super::flush_subnormals();
            assert_eq!(std::hint::black_box(tiny / 4.0), 0.0, "flushed to zero");
        })
        .join()
        .unwrap();
    }
}
