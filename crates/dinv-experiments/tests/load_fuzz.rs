//! Property tests of the pipeline loader on hostile configuration (fuzzing on stable
//! Rust, with fixed case budgets): every real pipeline file in `pipelines/` with one of
//! its fields (a leaf, an array, a table, an array element) replaced by a hostile TOML
//! value: strings, huge, negative and non-finite numbers, arrays, tables such as
//! `{ smoke = 1000000000, paper = -1 }`. The property: `load_pipeline` returns a clean
//! error naming the file, or a valid pipeline, at both scales; it never panics, and its
//! heap never peaks above a bound (a counting global allocator measures it, and refuses
//! any single absurd request outright, so that a regression fails here instead of
//! being killed for lack of memory).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dinv_experiments::{load_pipeline, pipeline_files, Scale};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use toml::{Table, Value};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);

/// While armed, a single request above this is refused (and reported) rather than
/// attempted: the test process aborts with the message below instead of swapping.
const REFUSE_ABOVE: usize = 1 << 31;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) && layout.size() > REFUSE_ABOVE {
            use std::io::Write;
            let _ = std::io::stderr().write_all(
                b"load_fuzz: an allocation above 2 GiB was requested while loading a pipeline\n",
            );
            return std::ptr::null_mut();
        }
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
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Peak live heap bytes above the level at the start, while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let out = f();
    ARMED.store(false, Ordering::SeqCst);
    (out, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

/// Loading builds a graph of at most a few hundred stages from a file of a few
/// kilobytes: 64 MiB is far above what it needs and far below what any huge value
/// taken at its word would allocate.
const PEAK_BOUND: usize = 64 << 20;

fn workspace() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every path of the document: tables, arrays, their elements and the leaves.
fn paths(v: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Value::Table(t) => {
            for (k, child) in t {
                prefix.push(Seg::Key(k.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(Seg::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn slot<'a>(v: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    path.iter().fold(v, |v, seg| match (seg, v) {
        (Seg::Key(k), Value::Table(t)) => t.get_mut(k).expect("path from this document"),
        (Seg::Index(i), Value::Array(a)) => &mut a[*i],
        _ => unreachable!("path from this document"),
    })
}

fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

struct Doc {
    file: String,
    value: Value,
    paths: Vec<Vec<Seg>>,
}

fn docs() -> Vec<Doc> {
    pipeline_files(&workspace().join("pipelines"))
        .unwrap()
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let value = Value::Table(toml::from_str::<Table>(&text).unwrap());
            let mut all = Vec::new();
            paths(&value, &mut Vec::new(), &mut all);
            Doc {
                file: f.file_name().unwrap().to_string_lossy().into_owned(),
                value,
                paths: all,
            }
        })
        .collect()
}

/// The scales a change at `path` can affect: one, inside a `{ smoke = .., paper = .. }`
/// value; both otherwise.
fn scales(path: &[Seg]) -> &'static [Scale] {
    match path.iter().find_map(|s| match s {
        Seg::Key(k) if k == "smoke" => Some(Scale::Smoke),
        Seg::Key(k) if k == "paper" => Some(Scale::Paper),
        _ => None,
    }) {
        Some(Scale::Smoke) => &[Scale::Smoke],
        Some(Scale::Paper) => &[Scale::Paper],
        None => &[Scale::Smoke, Scale::Paper],
    }
}

/// Loads `doc` with `path` replaced by `new` at the scales it can affect, checking the
/// property; returns the number of loads.
fn check(doc: &Doc, path: &[Seg], new: &Value, dir: &Path) -> Result<usize, TestCaseError> {
    let mut v = doc.value.clone();
    *slot(&mut v, path) = new.clone();
    let Value::Table(t) = v else { unreachable!() };
    let text = toml::to_string(&t).unwrap();
    let file = dir.join(&doc.file);
    std::fs::write(&file, &text).unwrap();
    for &scale in scales(path) {
        let what = format!(
            "{} with {} = {new} at scale {scale}",
            doc.file,
            render(path)
        );
        let (result, peak) = peak_during(|| {
            std::panic::catch_unwind(|| load_pipeline(&file, scale).map(|p| p.graph.len()))
        });
        let Ok(result) = result else {
            return Err(TestCaseError::fail(format!("panicked: {what}")));
        };
        prop_assert!(peak < PEAK_BOUND, "{what}: peak {} MiB", peak >> 20);
        if let Err(e) = result {
            prop_assert!(
                e.contains(&doc.file),
                "{what}: error does not name the file: {e}"
            );
        }
    }
    Ok(scales(path).len())
}

fn hostile_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Integer(i64::MAX)),
        Just(Value::Integer(1_000_000_000)),
        Just(Value::Integer(1_000_000_000_000)),
        Just(Value::Integer(-1)),
        Just(Value::Integer(0)),
        any::<i64>().prop_map(Value::Integer),
        Just(Value::Float(f64::NAN)),
        Just(Value::Float(f64::INFINITY)),
        Just(Value::Float(f64::NEG_INFINITY)),
        Just(Value::Float(-1e-3)),
        Just(Value::Float(1e300)),
        Just(Value::Float(0.0)),
        any::<f64>().prop_map(Value::Float),
    ]
}

fn hostile_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        hostile_number(),
        Just(Value::Boolean(true)),
        "[a-z_]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "bp",
            "fa",
            "pbp",
            "ndi",
            "di",
            "sdi",
            "linear",
            "tanh",
            "nonlinear",
            "mnist",
            "subset",
            "full",
            "smoke",
            "paper",
            "../../x",
            "",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            // `Scaled` values: { smoke = .., paper = .. }
            (inner.clone(), inner.clone()).prop_map(|(a, b)| {
                let mut t = Table::new();
                t.insert("smoke".into(), a);
                t.insert("paper".into(), b);
                Value::Table(t)
            }),
            ("[a-z_]{1,8}", inner).prop_map(|(k, v)| {
                let mut t = Table::new();
                t.insert(k, v);
                Value::Table(t)
            }),
        ]
    })
}

fn runner(cases: u32) -> TestRunner {
    // A fixed seed: the same cases on every run; failures shrink to a small case.
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]),
    )
}

/// Every field of every pipeline file, replaced in turn by each of a few hostile
/// values (a sweep, so that no field is missed; of a long array, such as the seeds,
/// the first two elements stand for the rest).
#[test]
fn every_field_with_hostile_values() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let values = [
        Value::Integer(1_000_000_000_000),
        Value::Integer(-1),
        Value::Float(f64::NAN),
        Value::String("x".into()),
    ];
    let mut loads = 0;
    for doc in docs() {
        for path in &doc.paths {
            if path.iter().any(|s| matches!(s, Seg::Index(i) if *i >= 2)) {
                continue;
            }
            for v in &values {
                match check(&doc, path, v, dir.path()) {
                    Ok(n) => loads += n,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }
    eprintln!("{loads} loads of hostile variants");
}

/// Random fields of random files, replaced by random hostile values (nested arrays
/// and tables included).
#[test]
fn random_fields_with_random_values() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let docs = docs();
    let strategy = (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        hostile_value(),
    );
    runner(500)
        .run(&strategy, |(d, p, v)| {
            let doc = &docs[d.index(docs.len())];
            let path = &doc.paths[p.index(doc.paths.len())];
            check(doc, path, &v, dir.path()).map(drop)
        })
        .unwrap();
}
