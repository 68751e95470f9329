//! Reader for the IDX format of the MNIST distribution, raw or gzip-compressed.
//!
//! An IDX file is a 4-byte magic (`00 00`, a type code, the number of dimensions), one
//! big-endian `u32` per dimension, then the data in row-major order. Only unsigned bytes
//! (type code 0x08) are supported. The input is decompressed if it starts with the gzip
//! magic `1f 8b` (whatever the file is called), validated strictly (the payload must have
//! exactly the declared length) and hashed with SHA-256 *after* decompression, so that
//! the digest does not depend on how the file was compressed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;
use sha2::{Digest, Sha256};

use crate::error::{DataError, IdxKind};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const TYPE_U8: u8 = 0x08;
/// Labels are digit classes.
pub const MAX_LABEL: u8 = 9;
/// Largest payload (after decompression) this reader accepts: 128 MiB, ample for
/// MNIST-format datasets (60000 images of 28 × 28 are 47 MB). A header declaring more
/// is rejected before anything is read or allocated, so a damaged or hostile file (a
/// gzip bomb declaring 2³¹ images, say) costs no memory. Known dataset files are
/// held to their exact shape as well ([`crate::mnist::FileSpec::shape`]).
pub const MAX_PAYLOAD_BYTES: u64 = 128 << 20;

/// The contents of an `idx3-ubyte` file: `n` images of `rows × cols` pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    /// `n · rows · cols` bytes; image `k` is `pixels[k·rows·cols ..][.. rows·cols]`,
    /// each image row-major.
    pub pixels: Vec<u8>,
}

/// A parsed value with the SHA-256 (lowercase hex) of the decompressed bytes it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashed<T> {
    pub value: T,
    pub sha256: String,
}

/// Reads an `idx3-ubyte` images file (raw or gzip) of any shape up to
/// [`MAX_PAYLOAD_BYTES`].
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Hashed<IdxImages>, DataError> {
    read_idx_images_shaped(path, None)
}

/// [`read_idx_images`] for a file whose header must declare exactly `shape`
/// (`[n, rows, cols]`), checked before the payload is read.
pub fn read_idx_images_shaped(
    path: impl AsRef<Path>,
    shape: Option<&[u32]>,
) -> Result<Hashed<IdxImages>, DataError> {
    let path = path.as_ref();
    let raw = read_idx(open(path)?, path, IdxKind::Images, shape)?;
    Ok(images_from(raw))
}

/// Reads an `idx1-ubyte` labels file (raw or gzip); every label must be in 0..=9.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Hashed<Vec<u8>>, DataError> {
    read_idx_labels_shaped(path, None)
}

/// [`read_idx_labels`] for a file whose header must declare exactly `shape` (`[n]`).
pub fn read_idx_labels_shaped(
    path: impl AsRef<Path>,
    shape: Option<&[u32]>,
) -> Result<Hashed<Vec<u8>>, DataError> {
    let path = path.as_ref();
    let raw = read_idx(open(path)?, path, IdxKind::Labels, shape)?;
    labels_from(raw, path)
}

/// In-memory variant of [`read_idx_images`]; `name` is only used in error messages.
pub fn parse_idx_images(
    bytes: &[u8],
    name: impl AsRef<Path>,
) -> Result<Hashed<IdxImages>, DataError> {
    let raw = read_idx(bytes, name.as_ref(), IdxKind::Images, None)?;
    Ok(images_from(raw))
}

/// In-memory variant of [`read_idx_labels`]; `name` is only used in error messages.
pub fn parse_idx_labels(
    bytes: &[u8],
    name: impl AsRef<Path>,
) -> Result<Hashed<Vec<u8>>, DataError> {
    let name = name.as_ref();
    let raw = read_idx(bytes, name, IdxKind::Labels, None)?;
    labels_from(raw, name)
}

/// The bytes of an `idx3-ubyte` file holding `n` images of `rows × cols` pixels
/// (`pixels` row-major, image after image). For writing subsets and test files.
///
/// # Panics
/// If `pixels.len() != n · rows · cols` or a dimension exceeds `u32`.
pub fn encode_idx_images(n: usize, rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    assert_eq!(pixels.len(), n * rows * cols, "pixel count");
    encode(&[n, rows, cols], pixels)
}

/// The bytes of an `idx1-ubyte` labels file.
pub fn encode_idx_labels(labels: &[u8]) -> Vec<u8> {
    encode(&[labels.len()], labels)
}

fn encode(dims: &[usize], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
    for &d in dims {
        let d = u32::try_from(d).expect("IDX dimensions are u32");
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// SHA-256 of `bytes` as lowercase hex, the form used by `sha256sum` and in [`Hashed`].
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A validated IDX file before it is given its meaning.
struct RawIdx {
    dims: Vec<usize>,
    payload: Vec<u8>,
    sha256: String,
}

fn images_from(raw: RawIdx) -> Hashed<IdxImages> {
    let (n, rows, cols) = match raw.dims[..] {
        [n, rows, cols] => (n, rows, cols),
        // read_idx has checked the dimension count for IdxKind::Images.
        _ => unreachable!("images header with {} dimensions", raw.dims.len()),
    };
    Hashed {
        value: IdxImages {
            n,
            rows,
            cols,
            pixels: raw.payload,
        },
        sha256: raw.sha256,
    }
}

fn labels_from(raw: RawIdx, path: &Path) -> Result<Hashed<Vec<u8>>, DataError> {
    if let Some((index, &value)) = raw.payload.iter().enumerate().find(|(_, &v)| v > MAX_LABEL) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_owned(),
            index,
            value,
        });
    }
    Ok(Hashed {
        value: raw.payload,
        sha256: raw.sha256,
    })
}

fn open(path: &Path) -> Result<BufReader<File>, DataError> {
    File::open(path)
        .map(|f| BufReader::with_capacity(1 << 16, f))
        .map_err(|error| DataError::Io {
            path: path.to_owned(),
            error,
        })
}

/// Decompresses if needed, hashes, and checks header and payload length.
fn read_idx(
    mut input: impl BufRead,
    path: &Path,
    kind: IdxKind,
    shape: Option<&[u32]>,
) -> Result<RawIdx, DataError> {
    let io_error = |error| DataError::Io {
        path: path.to_owned(),
        error,
    };
    let gzip = input.fill_buf().map_err(io_error)?.starts_with(&GZIP_MAGIC);
    let inner: Box<dyn Read + '_> = if gzip {
        Box::new(GzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut reader = IdxReader {
        inner: HashingReader {
            inner,
            hasher: Sha256::new(),
        },
        path,
        gzip,
    };

    let mut magic = [0u8; 4];
    match reader.read_up_to(&mut magic)? {
        0 => {
            return Err(DataError::Empty {
                path: path.to_owned(),
                kind,
            })
        }
        found if found < magic.len() => {
            return Err(DataError::TruncatedHeader {
                path: path.to_owned(),
                expected: magic.len(),
                found,
            })
        }
        _ => {}
    }
    check_magic(magic, path, kind)?;

    let n_dims = usize::from(kind.dimensions());
    let mut dim_bytes = vec![0u8; 4 * n_dims];
    let found = reader.read_up_to(&mut dim_bytes)?;
    if found < dim_bytes.len() {
        return Err(DataError::TruncatedHeader {
            path: path.to_owned(),
            expected: magic.len() + dim_bytes.len(),
            found: magic.len() + found,
        });
    }
    let dims_u32: Vec<u32> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // A product of at most three u32 fits in u128 without overflow.
    let expected: u128 = dims_u32.iter().map(|&d| u128::from(d)).product();
    if let Some(want) = shape {
        if want != dims_u32.as_slice() {
            return Err(DataError::UnexpectedShape {
                path: path.to_owned(),
                kind,
                expected: dims_text(want),
                found: dims_text(&dims_u32),
            });
        }
    }
    let shape = shape_text(&dims_u32);
    if expected > u128::from(MAX_PAYLOAD_BYTES) {
        return Err(DataError::TooLarge {
            path: path.to_owned(),
            shape,
            bytes: expected,
            max: MAX_PAYLOAD_BYTES,
        });
    }

    // Bounded by MAX_PAYLOAD_BYTES just above: the exact size is reserved once and the
    // stream is never read past it.
    let limit = u64::try_from(expected).unwrap_or(u64::MAX);
    let mut payload = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
    reader.read_to_end_limited(&mut payload, limit)?;
    let read = payload.len() as u64;
    if u128::from(read) < expected {
        return Err(DataError::Truncated {
            path: path.to_owned(),
            shape,
            expected,
            found: read,
        });
    }
    let extra = reader.count_rest()?;
    if extra > 0 {
        return Err(DataError::TrailingBytes {
            path: path.to_owned(),
            shape,
            expected,
            found: read.saturating_add(extra),
        });
    }

    // Each dimension fits in usize because the whole payload does (it is in memory).
    let dims = dims_u32.iter().map(|&d| d as usize).collect();
    Ok(RawIdx {
        dims,
        payload,
        sha256: hex(&reader.inner.hasher.finalize()),
    })
}

fn check_magic(magic: [u8; 4], path: &Path, kind: IdxKind) -> Result<(), DataError> {
    if magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::BadMagic {
            path: path.to_owned(),
            found: magic,
        });
    }
    if magic[2] != TYPE_U8 {
        return Err(DataError::UnsupportedType {
            path: path.to_owned(),
            code: magic[2],
        });
    }
    if magic[3] != kind.dimensions() {
        return Err(DataError::WrongDimensions {
            path: path.to_owned(),
            kind,
            expected: kind.dimensions(),
            found: magic[3],
        });
    }
    Ok(())
}

/// "5 × 4 × 3 × 1 byte", for the payload-length messages.
fn shape_text(dims: &[u32]) -> String {
    format!("{} × 1 byte", dims_text(dims))
}

/// "5 × 4 × 3".
fn dims_text(dims: &[u32]) -> String {
    let dims: Vec<String> = dims.iter().map(u32::to_string).collect();
    dims.join(" × ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds every byte read into SHA-256.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads the (decompressed) stream and turns I/O failures into [`DataError`]s that
/// name the file; a failure inside a gzip stream means the file is damaged.
struct IdxReader<'a, R> {
    inner: HashingReader<R>,
    path: &'a Path,
    gzip: bool,
}

impl<R: Read> IdxReader<'_, R> {
    fn error(&self, error: io::Error) -> DataError {
        let path: PathBuf = self.path.to_owned();
        if self.gzip {
            DataError::Gzip { path, error }
        } else {
            DataError::Io { path, error }
        }
    }

    /// Fills `buf` as far as the stream allows; returns how many bytes were read.
    fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, DataError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.error(e)),
            }
        }
        Ok(filled)
    }

    fn read_to_end_limited(&mut self, buf: &mut Vec<u8>, limit: u64) -> Result<(), DataError> {
        match (&mut self.inner).take(limit).read_to_end(buf) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Number of bytes left in the stream (hashed too).
    fn count_rest(&mut self) -> Result<u64, DataError> {
        match io::copy(&mut self.inner, &mut io::sink()) {
            Ok(n) => Ok(n),
            Err(e) => Err(self.error(e)),
        }
    }
}
