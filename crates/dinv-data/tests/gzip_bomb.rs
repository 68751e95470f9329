//! Hostile files: gzip bombs must be rejected in bounded memory.
//!
//! A counting global allocator records the peak of live heap bytes, so the bound is
//! measured, not assumed. The bombs are generated here: a few hundred kilobytes of gzip
//! that inflate to hundreds of megabytes of zeros (kept small enough for CI; the
//! reader's bound does not depend on how far a bomb inflates, since it never reads
//! past the declared size and streams what follows).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dinv_data::error::DataError;
use dinv_data::idx::read_idx_images_shaped;
use dinv_data::mnist::MNIST;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(live, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The peak is process-wide: measurements must not overlap.
static SERIAL: Mutex<()> = Mutex::new(());

/// Peak live heap bytes above the level at the start, while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

const MB: usize = 1 << 20;

/// gzip of an IDX images header declaring `dims`, followed by `zeros` zero bytes,
/// compressed as it is streamed (the bomb itself is small in memory).
fn bomb(dims: [u32; 3], zeros: usize) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut header = vec![0, 0, 0x08, 3];
    for d in dims {
        header.extend_from_slice(&d.to_be_bytes());
    }
    gz.write_all(&header).unwrap();
    let chunk = vec![0u8; MB];
    for _ in 0..zeros / MB {
        gz.write_all(&chunk).unwrap();
    }
    gz.finish().unwrap()
}

#[test]
fn bomb_declaring_billions_of_images_costs_no_memory() {
    let _serial = SERIAL.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The bomb: 2^31 images of 28 × 28, inflating to 200 MiB of zeros here.
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    std::fs::write(&path, bomb([1 << 31, 28, 28], 200 * MB)).unwrap();
    let (err, peak) = peak_during(|| read_idx_images_shaped(&path, None).unwrap_err());
    assert!(matches!(err, DataError::TooLarge { .. }), "{err:?}");
    assert!(peak < 2 * MB, "peak {} MiB", peak / MB);
    // As a file of a known dataset it fails on its shape, before any payload is read.
    let (err, peak) =
        peak_during(|| read_idx_images_shaped(&path, MNIST.train_images.shape).unwrap_err());
    assert!(matches!(err, DataError::UnexpectedShape { .. }), "{err:?}");
    assert!(peak < 2 * MB, "peak {} MiB", peak / MB);
}

#[test]
fn bomb_with_a_plausible_header_is_read_in_bounded_memory() {
    let _serial = SERIAL.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // MNIST's exact training shape (47 MB of payload), then 150 MiB more of zeros: the
    // payload is read, the rest only streamed through to be counted.
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    std::fs::write(&path, bomb([60_000, 28, 28], 200 * MB)).unwrap();
    let (err, peak) =
        peak_during(|| read_idx_images_shaped(&path, MNIST.train_images.shape).unwrap_err());
    assert!(matches!(err, DataError::TrailingBytes { .. }), "{err:?}");
    assert!(peak < 60 * MB, "peak {} MiB", peak / MB);
    // An unknown file may declare up to the documented maximum, and no more is held.
    let rows = (dinv_data::idx::MAX_PAYLOAD_BYTES / (28 * 28)) as u32;
    std::fs::write(&path, bomb([rows, 28, 28], 200 * MB)).unwrap();
    let (err, peak) = peak_during(|| read_idx_images_shaped(&path, None).unwrap_err());
    assert!(matches!(err, DataError::TrailingBytes { .. }), "{err:?}");
    assert!(peak < 200 * MB, "peak {} MiB", peak / MB);
}
