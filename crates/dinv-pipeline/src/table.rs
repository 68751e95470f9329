//! Column tables and their Parquet encoding: the only module that touches polars.
//!
//! A [`Table`] is an ordered list of named, equally long columns of `f64`, `i64` or
//! `String`, with no nulls. Experiments build and read tables; how they become Parquet
//! bytes is decided here, once: polars writes them single-threaded, Snappy-compressed,
//! with min/max statistics, so the same table always gives the same bytes. `f64` columns
//! are stored with plain encoding, so every bit pattern (NaN payloads, `-0.0`, `±inf`)
//! survives a round trip.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use polars::prelude as pl;
use polars::prelude::{IntoColumn, NamedFrom, SerReader};

/// One column of a [`Table`].
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// 64-bit floats; stored bit-exactly.
    F64(Vec<f64>),
    /// 64-bit signed integers.
    I64(Vec<i64>),
    /// UTF-8 strings.
    Str(Vec<String>),
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::F64(v) => v.len(),
            Column::I64(v) => v.len(),
            Column::Str(v) => v.len(),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type's name as used in error messages: `f64`, `i64` or `str`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Column::F64(_) => "f64",
            Column::I64(_) => "i64",
            Column::Str(_) => "str",
        }
    }
}

/// Errors building, reading or writing a [`Table`]. Each names the column and the table
/// (its file path, or the label given with [`Table::with_label`]).
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A column's length differs from the table's.
    #[error("column `{column}` has {found} rows but table {table} has {expected}")]
    LengthMismatch {
        /// The column being added.
        column: String,
        /// The table.
        table: String,
        /// The table's row count.
        expected: usize,
        /// The new column's row count.
        found: usize,
    },
    /// A column name appears twice.
    #[error("table {table} already has a column `{column}`")]
    DuplicateColumn {
        /// The repeated name.
        column: String,
        /// The table.
        table: String,
    },
    /// The requested column does not exist.
    #[error("table {table} has no column `{column}` (it has: {})", list(available))]
    MissingColumn {
        /// The requested name.
        column: String,
        /// The table.
        table: String,
        /// The columns the table does have.
        available: Vec<String>,
    },
    /// The column exists with another element type.
    #[error("column `{column}` of table {table} holds {found} values, expected {expected}")]
    WrongType {
        /// The column.
        column: String,
        /// The table.
        table: String,
        /// The type asked for.
        expected: &'static str,
        /// The type stored.
        found: &'static str,
    },
    /// A Parquet file holds a column of a type tables cannot represent, or nulls.
    #[error("column `{column}` of Parquet file {} is not usable: {reason}", path.display())]
    UnsupportedColumn {
        /// The column.
        column: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it (its data type, or its null count).
        reason: String,
    },
    /// Reading or writing the file failed.
    #[error("could not {action} {}: {error}", path.display())]
    Io {
        /// `open` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause (already part of the message, so not repeated as `source()`).
        error: io::Error,
    },
    /// polars could not decode or encode the Parquet data.
    #[error("could not {action} Parquet file {}: {message}", path.display())]
    Parquet {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// polars' description of the problem.
        message: String,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no columns".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Ordered named columns of equal length.
///
/// Built with the `with_*` methods, which return `Result` so that a length mismatch or a
/// repeated name is an error at the point where it happens; a `Table` value is therefore
/// always well formed:
///
/// ```
/// # use dinv_pipeline::Table;
/// let t = Table::new()
///     .with_i64("step", vec![0, 1, 2])?
///     .with_f64("loss", vec![1.0, 0.5, 0.25])?
///     .with_str("algorithm", vec!["BP".into(), "BP".into(), "BP".into()])?;
/// assert_eq!(t.len(), 3);
/// assert_eq!(t.f64("loss")?[2], 0.25);
/// # Ok::<(), dinv_pipeline::TableError>(())
/// ```
///
/// Equality compares column names, order and values (with `f64`'s `==`, so a table holding
/// NaN is not equal to itself); the label is ignored.
#[derive(Debug, Clone, Default)]
pub struct Table {
    columns: Vec<(String, Column)>,
    label: Option<String>,
}

impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns
    }
}

impl Table {
    /// An empty table (no columns, no rows).
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the table in error messages (for example the stage and output it came from).
    /// Tables read from a file are labelled with its path.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The label used in error messages.
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or("(in memory)")
    }

    /// Appends a column; errors if the name is taken or the length differs from the other
    /// columns'.
    pub fn push_column(&mut self, name: &str, column: Column) -> Result<(), TableError> {
        if self.columns.iter().any(|(n, _)| n == name) {
            return Err(TableError::DuplicateColumn {
                column: name.to_string(),
                table: self.label().to_string(),
            });
        }
        if let Some((_, first)) = self.columns.first() {
            if first.len() != column.len() {
                return Err(TableError::LengthMismatch {
                    column: name.to_string(),
                    table: self.label().to_string(),
                    expected: first.len(),
                    found: column.len(),
                });
            }
        }
        self.columns.push((name.to_string(), column));
        Ok(())
    }

    /// Appends an `f64` column (see [`Table::push_column`]).
    pub fn push_f64(&mut self, name: &str, v: Vec<f64>) -> Result<(), TableError> {
        self.push_column(name, Column::F64(v))
    }

    /// Appends an `i64` column (see [`Table::push_column`]).
    pub fn push_i64(&mut self, name: &str, v: Vec<i64>) -> Result<(), TableError> {
        self.push_column(name, Column::I64(v))
    }

    /// Appends a string column (see [`Table::push_column`]).
    pub fn push_str(&mut self, name: &str, v: Vec<String>) -> Result<(), TableError> {
        self.push_column(name, Column::Str(v))
    }

    /// Builder form of [`Table::push_column`].
    pub fn with_column(mut self, name: &str, column: Column) -> Result<Self, TableError> {
        self.push_column(name, column)?;
        Ok(self)
    }

    /// Builder form of [`Table::push_f64`].
    pub fn with_f64(self, name: &str, v: Vec<f64>) -> Result<Self, TableError> {
        self.with_column(name, Column::F64(v))
    }

    /// Builder form of [`Table::push_i64`].
    pub fn with_i64(self, name: &str, v: Vec<i64>) -> Result<Self, TableError> {
        self.with_column(name, Column::I64(v))
    }

    /// Builder form of [`Table::push_str`].
    pub fn with_str(self, name: &str, v: Vec<String>) -> Result<Self, TableError> {
        self.with_column(name, Column::Str(v))
    }

    /// Number of rows (0 for a table without columns).
    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// Column names in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The columns in order, with their names.
    pub fn columns(&self) -> impl ExactSizeIterator<Item = (&str, &Column)> {
        self.columns.iter().map(|(n, c)| (n.as_str(), c))
    }

    /// The column called `name`, of any type.
    pub fn column(&self, name: &str) -> Result<&Column, TableError> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .ok_or_else(|| TableError::MissingColumn {
                column: name.to_string(),
                table: self.label().to_string(),
                available: self.columns.iter().map(|(n, _)| n.clone()).collect(),
            })
    }

    fn wrong_type(&self, name: &str, expected: &'static str, found: &Column) -> TableError {
        TableError::WrongType {
            column: name.to_string(),
            table: self.label().to_string(),
            expected,
            found: found.type_name(),
        }
    }

    /// The `f64` column called `name`.
    pub fn f64(&self, name: &str) -> Result<&[f64], TableError> {
        match self.column(name)? {
            Column::F64(v) => Ok(v),
            other => Err(self.wrong_type(name, "f64", other)),
        }
    }

    /// The `i64` column called `name`.
    pub fn i64(&self, name: &str) -> Result<&[i64], TableError> {
        match self.column(name)? {
            Column::I64(v) => Ok(v),
            other => Err(self.wrong_type(name, "i64", other)),
        }
    }

    /// The string column called `name`.
    pub fn str(&self, name: &str) -> Result<&[String], TableError> {
        match self.column(name)? {
            Column::Str(v) => Ok(v),
            other => Err(self.wrong_type(name, "str", other)),
        }
    }

    /// Encodes the table as Parquet bytes; the same table always gives the same bytes.
    fn to_parquet_bytes(&self) -> Result<Vec<u8>, String> {
        let height = self.len();
        let columns: Vec<pl::Column> = self
            .columns
            .iter()
            .map(|(name, c)| {
                let name = pl::PlSmallStr::from(name.as_str());
                match c {
                    Column::F64(v) => pl::Series::new(name, v.as_slice()).into_column(),
                    Column::I64(v) => pl::Series::new(name, v.as_slice()).into_column(),
                    Column::Str(v) => {
                        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
                        pl::Series::new(name, refs.as_slice()).into_column()
                    }
                }
            })
            .collect();
        let mut df = pl::DataFrame::new(height, columns).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        pl::ParquetWriter::new(&mut bytes)
            .with_compression(pl::ParquetCompression::Snappy)
            .with_statistics(pl::StatisticsOptions::default())
            .set_parallel(false)
            .finish(&mut df)
            .map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    /// Writes the table to `path` as Parquet: the bytes go to a temporary file beside
    /// `path`, which is then renamed over it, so `path` never holds a partial file.
    pub fn write_parquet(&self, path: &Path) -> Result<(), TableError> {
        let bytes = self
            .to_parquet_bytes()
            .map_err(|message| TableError::Parquet {
                action: "write",
                path: path.to_path_buf(),
                message,
            })?;
        write_atomic(path, &bytes).map_err(|error| TableError::Io {
            action: "write",
            path: path.to_path_buf(),
            error,
        })
    }

    /// Reads a Parquet file of `f64` (Float64), `i64` (Int64) and string columns without
    /// nulls. The table is labelled with the path.
    pub fn read_parquet(path: &Path) -> Result<Table, TableError> {
        let parquet_err = |message: String| TableError::Parquet {
            action: "read",
            path: path.to_path_buf(),
            message,
        };
        let file = File::open(path).map_err(|error| TableError::Io {
            action: "open",
            path: path.to_path_buf(),
            error,
        })?;
        let df = pl::ParquetReader::new(file)
            .read_parallel(pl::ParallelStrategy::None)
            .finish()
            .map_err(|e| parquet_err(e.to_string()))?;
        let mut table = Table::new().with_label(path.display().to_string());
        for col in df.columns() {
            let name = col.name().to_string();
            let unsupported = |reason: String| TableError::UnsupportedColumn {
                column: name.clone(),
                path: path.to_path_buf(),
                reason,
            };
            if col.null_count() > 0 {
                return Err(unsupported(format!("it holds {} nulls", col.null_count())));
            }
            let column = match col.dtype() {
                pl::DataType::Float64 => {
                    let ca = col.f64().map_err(|e| parquet_err(e.to_string()))?;
                    Column::F64(ca.into_no_null_iter().collect())
                }
                pl::DataType::Int64 => {
                    let ca = col.i64().map_err(|e| parquet_err(e.to_string()))?;
                    Column::I64(ca.into_no_null_iter().collect())
                }
                pl::DataType::String => {
                    let ca = col.str().map_err(|e| parquet_err(e.to_string()))?;
                    // Null-free (checked above), so every element is `Some`.
                    Column::Str(ca.iter().flatten().map(str::to_string).collect())
                }
                other => {
                    return Err(unsupported(format!(
                        "its type is {other}, expected Float64, Int64 or String"
                    )))
                }
            };
            table.push_column(&name, column)?;
        }
        Ok(table)
    }
}

impl fmt::Display for Table {
    /// A short description: label, row count and typed column names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {} ({} rows:", self.label(), self.len())?;
        for (name, c) in &self.columns {
            write!(f, " {name}: {}", c.type_name())?;
        }
        write!(f, ")")
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to a uniquely named temporary file in `path`'s directory, then renames
/// it to `path`. The temporary file is removed if anything fails.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
