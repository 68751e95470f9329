//! Writing files atomically: each file is written next to its destination under a
//! temporary name and renamed into place, so an interrupted run leaves either the old
//! figure or the new one, never half of one.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::error::FigureError;
use crate::model::RgbImage;

/// `<stem>.<ext>`, keeping any dots already in the stem (`fig.v2` → `fig.v2.png`).
pub(crate) fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut s = OsString::from(stem.as_os_str());
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// The folder a stem will be written to (`.` for a bare file name).
pub(crate) fn output_dir(stem: &Path) -> PathBuf {
    match stem.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FigureError + '_ {
    move |source| FigureError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn finish(tmp: &Path, path: &Path, written: Result<(), FigureError>) -> Result<(), FigureError> {
    let result = written.and_then(|()| fs::rename(tmp, path).map_err(io_error(path)));
    if result.is_err() {
        // Best effort: the error being returned matters more than a stray temp file.
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Writes `bytes` to `path` via `<path>.tmp`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FigureError> {
    let tmp = with_suffix(path, "tmp");
    let written = fs::write(&tmp, bytes).map_err(io_error(path));
    finish(&tmp, path, written)
}

/// Encodes `image` as PNG at `path` via `<path>.tmp.png` (the encoder picks the format
/// from the extension, so the temporary name must end in `.png`).
pub(crate) fn write_png(path: &Path, image: &RgbImage) -> Result<(), FigureError> {
    let tmp = with_suffix(&with_suffix(path, "tmp"), "png");
    let written = encode_png(&tmp, image).map_err(|message| FigureError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(message),
    });
    finish(&tmp, path, written)
}

fn encode_png(tmp: &Path, image: &RgbImage) -> Result<(), String> {
    let size = (image.width, image.height);
    let mut backend = BitMapBackend::new(tmp, size);
    backend
        .blit_bitmap((0, 0), size, &image.data)
        .map_err(|e| e.to_string())?;
    backend.present().map_err(|e| e.to_string())
}
