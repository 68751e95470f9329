//! Property tests of the IDX reader on hostile bytes (fuzzing on stable Rust, with a
//! fixed case budget so it runs in seconds): arbitrary bytes, raw and gzip-wrapped,
//! and valid headers with mutated dimensions and payloads. The property: a clean error
//! or a valid result, never a panic, and never a heap peak beyond a bound (see
//! [`bound`]), measured by a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dinv_data::idx::{parse_idx_images, parse_idx_labels, MAX_LABEL, MAX_PAYLOAD_BYTES};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

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
/// Besides the payload, a parse holds small buffers (decompression, header): 8 MiB is
/// far above them, and far below what a header taken at its word could declare.
const SLACK: usize = 8 * MB;

/// The heap a parse of `bytes` may use: the reader reserves the payload its header
/// declares in one allocation (documented in `idx.rs`), but only up to
/// `MAX_PAYLOAD_BYTES`; a header declaring more is rejected before any allocation. So:
/// the declared payload if within that maximum, plus the slack; the slack alone for
/// anything else (no header, a huge declaration).
fn bound(bytes: &[u8]) -> usize {
    let declared = (|| {
        if bytes.len() < 4 || bytes[..2] != [0, 0] {
            return None;
        }
        let n = usize::from(bytes[3]);
        let dims = bytes.get(4..4 + 4 * n)?;
        Some(
            dims.chunks(4)
                .map(|c| u128::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .fold(1u128, u128::saturating_mul),
        )
    })()
    .unwrap_or(0);
    let reserved = if declared <= u128::from(MAX_PAYLOAD_BYTES) {
        declared as usize
    } else {
        0
    };
    reserved + SLACK
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn header(type_code: u8, dims: &[u32]) -> Vec<u8> {
    let mut out = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

/// Parses `bytes` as images and as labels, raw and gzip-wrapped, checking the property.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let wrapped = gzip(bytes);
    let bound = bound(bytes);
    for input in [bytes, &wrapped[..]] {
        let (images, peak) = peak_during(|| parse_idx_images(input, "fuzz-images"));
        prop_assert!(peak < bound, "images: peak {peak} B, bound {bound} B");
        match images {
            Ok(img) => {
                let v = &img.value;
                prop_assert_eq!(v.pixels.len(), v.n * v.rows * v.cols);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        let (labels, peak) = peak_during(|| parse_idx_labels(input, "fuzz-labels"));
        prop_assert!(peak < bound, "labels: peak {peak} B, bound {bound} B");
        match labels {
            Ok(l) => prop_assert!(l.value.iter().all(|&x| x <= MAX_LABEL)),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    // A fixed seed: the same cases on every run (CI is reproducible); failures shrink.
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &[7; 32],
        ),
    )
}

/// Arbitrary bytes, mostly short, some starting with the IDX or gzip magic.
#[test]
fn arbitrary_bytes_never_panic_or_overallocate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = prop_oneof![
        Just(Vec::new()),
        Just(vec![0u8, 0, 8]),
        Just(vec![0x1f, 0x8b]),
        Just(vec![0x1f, 0x8b, 8, 0]),
    ];
    let strategy =
        (prefix, proptest::collection::vec(any::<u8>(), 0..512)).prop_map(|(mut p, rest)| {
            p.extend(rest);
            p
        });
    runner(3000).run(&strategy, |bytes| check(&bytes)).unwrap();
}

/// A valid header (any type code, 0–4 dimensions of any size, the large ones most
/// interesting) and a payload that may be short, exact, long or garbage.
#[test]
fn hostile_headers_and_payloads_never_panic_or_overallocate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dim = prop_oneof![
        0u32..8,
        Just(28),
        Just(60_000),
        Just(u32::MAX),
        Just(1 << 31),
        any::<u32>(),
    ];
    let type_code = prop_oneof![Just(0x08u8), any::<u8>()];
    let strategy = (
        type_code,
        proptest::collection::vec(dim, 0..5),
        0usize..4096,
        any::<u8>(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    )
        .prop_map(|(code, dims, len, fill, flips)| {
            let mut bytes = header(code, &dims);
            bytes.extend(std::iter::repeat_n(fill, len));
            // Mutations anywhere, header included.
            let n = bytes.len();
            for (at, v) in flips {
                bytes[at.index(n)] = v;
            }
            bytes
        });
    runner(3000).run(&strategy, |bytes| check(&bytes)).unwrap();
}

/// Well-formed files of small random shape, then one mutation of a dimension or of the
/// payload length: the reader must agree with the declared shape exactly.
#[test]
fn mutated_valid_files_are_read_exactly_or_rejected() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let strategy = (1u32..20, 1u32..8, 1u32..8, 0usize..3, -3i64..4, 0u8..12);
    runner(2000)
        .run(&strategy, |(n, rows, cols, which, delta, label)| {
            let mut dims = [n, rows, cols];
            let payload = vec![label; (n * rows * cols) as usize];
            dims[which] = (i64::from(dims[which]) + delta).max(0) as u32;
            let bytes = [header(8, &dims), payload.clone()].concat();
            let wrapped = gzip(&bytes);
            for input in [&bytes[..], &wrapped[..]] {
                let (r, peak) = peak_during(|| parse_idx_images(input, "mutated"));
                prop_assert!(peak < bound(&bytes));
                let exact = dims.iter().map(|&d| d as usize).product::<usize>() == payload.len();
                match r {
                    Ok(img) => {
                        prop_assert!(exact, "accepted a payload of the wrong length");
                        prop_assert_eq!(
                            (img.value.n, img.value.rows, img.value.cols),
                            (dims[0] as usize, dims[1] as usize, dims[2] as usize)
                        );
                        prop_assert_eq!(&img.value.pixels, &payload);
                    }
                    Err(_) => prop_assert!(!exact || dims.contains(&0)),
                }
            }
            // The labels file of the same payload, with its one dimension mutated.
            let m = (i64::from(n) + delta).max(0) as u32;
            let labels = vec![label; n as usize];
            let bytes = [header(8, &[m]), labels.clone()].concat();
            let (r, peak) = peak_during(|| parse_idx_labels(&bytes, "mutated-labels"));
            prop_assert!(peak < bound(&bytes));
            match r {
                Ok(l) => {
                    prop_assert!(m == n && label <= MAX_LABEL);
                    prop_assert_eq!(&l.value, &labels);
                }
                Err(_) => prop_assert!(m != n || label > MAX_LABEL || m == 0),
            }
            Ok(())
        })
        .unwrap();
}
