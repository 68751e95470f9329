//! The one error type of the data layer.
//!
//! Every message names the file, says what was expected and what was found, and, where
//! the data on disk is missing or damaged, what to do about it. Messages are single
//! lines meant to be shown to a person as they are.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Which kind of IDX file was being read: decides the expected dimension count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxKind {
    /// `idx3-ubyte`: n × rows × cols unsigned bytes.
    Images,
    /// `idx1-ubyte`: n unsigned bytes with values 0..=9.
    Labels,
}

impl IdxKind {
    /// Number of dimensions the IDX header must declare.
    pub fn dimensions(self) -> u8 {
        match self {
            IdxKind::Images => 3,
            IdxKind::Labels => 1,
        }
    }
}

impl fmt::Display for IdxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdxKind::Images => "images (idx3-ubyte)",
            IdxKind::Labels => "labels (idx1-ubyte)",
        })
    }
}

/// Everything that can go wrong while finding, reading, validating or normalising a dataset.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    /// No candidate location held the file. `looked` lists every folder tried.
    #[error("{dataset} file not found: looked for {file}(.gz) in {}. {hint}", join_or_none(.looked))]
    NotFound {
        dataset: String,
        file: String,
        looked: Vec<String>,
        hint: String,
    },

    /// The file exists but could not be read.
    #[error("cannot read {}: {error}. Check that the file is readable, or re-copy it.", .path.display())]
    Io { path: PathBuf, error: io::Error },

    /// The file starts like gzip but does not decompress (truncated download, damaged copy).
    #[error("{} is not an intact gzip stream: {error}. Expected a complete .gz file: re-copy it.", .path.display())]
    Gzip { path: PathBuf, error: io::Error },

    /// Zero bytes (after decompression).
    #[error("{} is empty: expected an IDX {kind} file, found 0 bytes. Re-copy the file.", .path.display())]
    Empty { path: PathBuf, kind: IdxKind },

    /// Fewer bytes than the header needs.
    #[error("{}: IDX header is truncated: expected {expected} header bytes, found {found}. Re-copy the file.", .path.display())]
    TruncatedHeader {
        path: PathBuf,
        expected: usize,
        found: usize,
    },

    /// The first two bytes are not zero.
    #[error("{}: not an IDX file: expected the magic to start with 00 00, found {}. Check that this is the right file.", .path.display(), hex_bytes(.found))]
    BadMagic { path: PathBuf, found: [u8; 4] },

    /// A type code other than 0x08 (unsigned byte).
    #[error("{}: unsupported IDX data type 0x{code:02X} ({}): expected 0x08 (unsigned byte), the only type this reader supports.", .path.display(), type_name(*.code))]
    UnsupportedType { path: PathBuf, code: u8 },

    /// Images need 3 dimensions, labels 1.
    #[error("{}: expected an IDX {kind} file with {expected} dimension(s), found {found}. Check that images and labels files are not swapped.", .path.display())]
    WrongDimensions {
        path: PathBuf,
        kind: IdxKind,
        expected: u8,
        found: u8,
    },

    /// The payload ends before the declared size.
    #[error("{}: payload is truncated: the header declares {shape} = {expected} bytes, found {found}. Re-copy the file.", .path.display())]
    Truncated {
        path: PathBuf,
        shape: String,
        expected: u128,
        found: u64,
    },

    /// Bytes follow the declared payload.
    #[error("{}: trailing bytes after the payload: the header declares {shape} = {expected} bytes, found {found}. Re-copy the file.", .path.display())]
    TrailingBytes {
        path: PathBuf,
        shape: String,
        expected: u128,
        found: u64,
    },

    /// The header declares other dimensions than the dataset's file has.
    #[error("{}: the IDX header declares {found}, but this {kind} file of the dataset has {expected}. The file is damaged or belongs to another dataset: re-copy it.", .path.display())]
    UnexpectedShape {
        path: PathBuf,
        kind: IdxKind,
        expected: String,
        found: String,
    },

    /// The header declares more data than the reader accepts.
    #[error("{}: the IDX header declares {shape} = {bytes} bytes, more than the {max} bytes this reader accepts (crate::idx::MAX_PAYLOAD_BYTES). The file is damaged, or not an MNIST-format dataset.", .path.display())]
    TooLarge {
        path: PathBuf,
        shape: String,
        bytes: u128,
        max: u64,
    },

    /// A label outside 0..=9.
    #[error("{}: label at index {index} is {value}: expected a digit class 0..=9. Check that this is a labels file of the right dataset.", .path.display())]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        value: u8,
    },

    /// Images and labels of one split disagree in count.
    #[error("{} holds {images} images but {} holds {labels} labels: expected the same count. The two files must belong to the same split: re-copy them.", .images_path.display(), .labels_path.display())]
    CountMismatch {
        images_path: PathBuf,
        labels_path: PathBuf,
        images: usize,
        labels: usize,
    },

    /// Train and test images differ in size.
    #[error("{}: images are {rows}×{cols}, but the training images are {train_rows}×{train_cols}: expected the same size. The files belong to different datasets: re-copy them.", .path.display())]
    ShapeMismatch {
        path: PathBuf,
        rows: usize,
        cols: usize,
        train_rows: usize,
        train_cols: usize,
    },

    /// The SHA-256 of the decompressed file differs from the known one.
    #[error("checksum mismatch for {}: expected SHA-256 {expected} (of the decompressed file), found {actual}. The file is damaged or a different version: re-copy it.", .path.display())]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// Statistics cannot be fitted (no images, or no variance to normalise by).
    #[error(
        "cannot fit pixel statistics on the training split: expected {expected}, found {found}."
    )]
    Degenerate { expected: String, found: String },
}

fn join_or_none(looked: &[String]) -> String {
    if looked.is_empty() {
        "no folder at all (the list of data folders is empty)".to_owned()
    } else {
        looked.join(", ")
    }
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Names of the IDX type codes, so that a float file is recognised as such.
fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "not an IDX type code",
    }
}
