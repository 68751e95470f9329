//! Fetching against a real HTTP server on loopback, started by each test: it listens on
//! 127.0.0.1 only, serves the shipped subsets (or broken variants of them), and stops by
//! itself when the test drops it or after a bounded lifetime.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dinv_data::error::DataError;
use dinv_data::fetch::{
    fetch_dataset, mirrors_given, FetchError, FetchOptions, FileOutcome, NoProgress,
};
use dinv_data::locate::DataDirs;
use dinv_data::mnist::{load, DatasetSpec, MNIST};
use dinv_data::subset::{self, MNIST_SUBSET};

/// What the server does for one path.
#[derive(Clone)]
enum Reply {
    /// 200 with these bytes.
    Body(Vec<u8>),
    /// This status, empty body.
    Status(u16),
    /// Announces the whole body, sends only the first `n` bytes, then hangs up.
    DropAfter(Vec<u8>, usize),
    /// Reads the request and never answers (until the server stops).
    Silent,
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 with a route table; answers each
/// connection once and closes it.
struct Server {
    base: String,
    stop: Arc<AtomicBool>,
    hits: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

/// No server outlives this, whatever the test does.
const LIFETIME: Duration = Duration::from_secs(60);

impl Server {
    fn start(prefix: &str, routes: HashMap<String, Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}/{prefix}/", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (stop2, hits2) = (stop.clone(), hits.clone());
        let prefix = format!("/{prefix}/");
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while !stop2.load(Ordering::SeqCst) && started.elapsed() < LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &prefix, &routes, &stop2, &hits2),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            base,
            stop,
            hits,
            thread: Some(thread),
        }
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request, recording the requested file name in `hits` before replying
/// (after the reply the client may already be checking the hits).
fn serve(
    mut stream: TcpStream,
    prefix: &str,
    routes: &HashMap<String, Reply>,
    stop: &AtomicBool,
    hits: &Mutex<Vec<String>>,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => {
                hits.lock().unwrap().push(String::new());
                return;
            }
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
    let name = path.strip_prefix(prefix).unwrap_or("").to_owned();
    let reply = routes.get(&name).cloned().unwrap_or(Reply::Status(404));
    hits.lock().unwrap().push(name);
    let head = |status: &str, len: usize| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
    };
    match reply {
        Reply::Body(bytes) => {
            let _ = stream.write_all(head("200 OK", bytes.len()).as_bytes());
            let _ = stream.write_all(&bytes);
        }
        Reply::Status(code) => {
            let _ = stream.write_all(head(&format!("{code} Nope"), 0).as_bytes());
        }
        Reply::DropAfter(bytes, n) => {
            let _ = stream.write_all(head("200 OK", bytes.len()).as_bytes());
            let _ = stream.write_all(&bytes[..n]);
            let _ = stream.flush();
        }
        Reply::Silent => {
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The shipped subset's gzip file of `name`.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(subset::root().join("mnist").join(format!("{name}.gz"))).unwrap()
}

/// Routes serving all four subset files intact.
fn intact() -> HashMap<String, Reply> {
    MNIST_SUBSET
        .all_files()
        .iter()
        .map(|f| (format!("{}.gz", f.name), Reply::Body(fixture(f.name))))
        .collect()
}

fn quick() -> FetchOptions {
    FetchOptions {
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(10),
        attempts: 2,
        retry_pause: Duration::from_millis(10),
    }
}

/// Every file in `dir`, hidden ones included.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Fetches the MNIST subset from these servers, in order, into `root`.
fn fetch(servers: &[&Server], root: &Path) -> Result<Vec<FileOutcome>, FetchError> {
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    fetch_dataset(&MNIST_SUBSET, &bases, root, &quick(), &mut NoProgress)
}

fn loads(spec: &DatasetSpec, root: &Path) -> bool {
    load(spec, &DataDirs::new([root])).is_ok()
}

#[test]
fn fetch_installs_verified_files_that_load() {
    let server = Server::start("m", intact());
    let root = tempfile::tempdir().unwrap();
    let out = fetch(&[&server], root.path()).unwrap();
    assert_eq!(out.len(), 4);
    assert!(
        out.iter().all(|o| matches!(o, FileOutcome::Fetched { .. })),
        "{out:?}"
    );
    assert!(loads(&MNIST_SUBSET, root.path()));
    let dir = root.path().join("mnist");
    assert_eq!(listing(&dir).len(), 4, "{:?}", listing(&dir));
    // A second fetch finds everything present and downloads nothing.
    let before = server.hits().len();
    let again = fetch(&[&server], root.path()).unwrap();
    assert!(
        again.iter().all(|o| matches!(o, FileOutcome::Present(_))),
        "{again:?}"
    );
    assert_eq!(server.hits().len(), before);
}

#[test]
fn a_404_moves_on_to_the_next_mirror() {
    let empty = Server::start("gone", HashMap::new());
    let good = Server::start("m", intact());
    let root = tempfile::tempdir().unwrap();
    let out = fetch(&[&empty, &good], root.path()).unwrap();
    for o in &out {
        let FileOutcome::Fetched { url, .. } = o else {
            panic!("{o:?}")
        };
        assert!(url.starts_with(&good.base), "{url}");
    }
    // A 404 is not retried: one request per file at the first mirror.
    assert_eq!(empty.hits().len(), 4, "{:?}", empty.hits());
    assert!(loads(&MNIST_SUBSET, root.path()));
}

#[test]
fn wrong_content_is_rejected_and_nothing_is_left_behind() {
    // Every file answers with the test labels: intact gzip, wrong content.
    let wrong = fixture("t10k-labels-idx1-ubyte");
    let routes = MNIST_SUBSET
        .all_files()
        .iter()
        .map(|f| (format!("{}.gz", f.name), Reply::Body(wrong.clone())))
        .collect();
    let server = Server::start("m", routes);
    let root = tempfile::tempdir().unwrap();
    let err = fetch(&[&server], root.path()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, FetchError::AllMirrorsFailed { .. }), "{text}");
    assert!(
        text.contains("train-images-idx3-ubyte") && text.contains(&server.base),
        "{text}"
    );
    assert!(
        text.contains("not the expected file") || text.contains("wrong content"),
        "{text}"
    );
    // Manual routes are named.
    assert!(text.contains("DINV_DATA_DIR"), "{text}");
    assert!(
        listing(&root.path().join("mnist")).is_empty(),
        "{:?}",
        listing(&root.path().join("mnist"))
    );
    // Wrong content is not transient: no retry.
    assert_eq!(server.hits().len(), 1);
}

#[test]
fn a_dropped_connection_is_retried_then_reported_and_leaves_nothing() {
    let body = fixture("train-images-idx3-ubyte");
    let mut routes = intact();
    routes.insert(
        "train-images-idx3-ubyte.gz".into(),
        Reply::DropAfter(body.clone(), body.len() / 2),
    );
    let server = Server::start("m", routes);
    let root = tempfile::tempdir().unwrap();
    let err = fetch(&[&server], root.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("attempt 1") && text.contains("attempt 2"),
        "{text}"
    );
    assert_eq!(server.hits().len(), 2, "two attempts at the one mirror");
    assert!(listing(&root.path().join("mnist")).is_empty());
    // With an intact second mirror the same fetch succeeds.
    let good = Server::start("ok", intact());
    fetch(&[&server, &good], root.path()).unwrap();
    assert!(loads(&MNIST_SUBSET, root.path()));
}

#[test]
fn a_server_that_never_answers_times_out() {
    let routes = MNIST_SUBSET
        .all_files()
        .iter()
        .map(|f| (format!("{}.gz", f.name), Reply::Silent))
        .collect();
    let server = Server::start("m", routes);
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = fetch(&[&server], root.path()).unwrap_err();
    let elapsed = started.elapsed();
    let text = err.to_string();
    assert!(text.contains("timed out"), "{text}");
    // Two attempts of a 1 s response timeout, far below the server's 20 s silence.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(listing(&root.path().join("mnist")).is_empty());
}

#[test]
fn a_partial_file_from_a_killed_fetch_is_never_data() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    // A killed fetch leaves its temporary files, here even with complete, valid content.
    let mut stale = Vec::new();
    for f in MNIST_SUBSET.all_files() {
        let p = dir.join(format!(".{}.gz.part-99999-0", f.name));
        std::fs::write(&p, fixture(f.name)).unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
        stale.push(p);
    }
    let err = load(&MNIST_SUBSET, &DataDirs::new([root.path()])).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    // The next fetch removes the stale leftovers and installs verified files.
    let server = Server::start("m", intact());
    fetch(&[&server], root.path()).unwrap();
    assert!(stale.iter().all(|p| !p.exists()));
    assert_eq!(listing(&dir).len(), 4, "{:?}", listing(&dir));
    assert!(loads(&MNIST_SUBSET, root.path()));
}

#[test]
fn a_damaged_file_is_replaced_and_a_verified_one_is_kept() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    let images = dir.join("train-images-idx3-ubyte.gz");
    let labels = dir.join("train-labels-idx1-ubyte.gz");
    std::fs::write(&images, b"damaged").unwrap();
    std::fs::write(&labels, fixture("train-labels-idx1-ubyte")).unwrap();
    let kept = std::fs::metadata(&labels).unwrap().modified().unwrap();
    let server = Server::start("m", intact());
    let out = fetch(&[&server], root.path()).unwrap();
    assert!(
        matches!(
            &out[0],
            FileOutcome::Fetched {
                replaced_damaged: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(out[1], FileOutcome::Present(labels.clone()));
    assert_eq!(
        std::fs::metadata(&labels).unwrap().modified().unwrap(),
        kept
    );
    assert!(!server
        .hits()
        .contains(&"train-labels-idx1-ubyte.gz".to_owned()));
    assert!(loads(&MNIST_SUBSET, root.path()));
}

#[test]
fn mirror_lists_come_from_the_environment_variable_when_set() {
    let defaults = mirrors_given(&MNIST, None);
    assert!(
        !defaults.is_empty()
            && defaults
                .iter()
                .all(|m| m.starts_with("https://") && m.ends_with('/'))
    );
    assert_eq!(mirrors_given(&MNIST, Some(" ".into())), defaults);
    assert_eq!(
        mirrors_given(
            &MNIST,
            Some("http://127.0.0.1:1/a, http://127.0.0.1:2/b/,".into())
        ),
        ["http://127.0.0.1:1/a/", "http://127.0.0.1:2/b/"]
    );
    assert_eq!(MNIST.mirrors_env, Some("DINV_MNIST_MIRRORS"));
}
