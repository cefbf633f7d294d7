//! Borrowed, strided matrix views.
//!
//! A view is `(slice, rows, cols, row_stride, col_stride)`: element `(i, j)`
//! lives at `slice[i * row_stride + j * col_stride]`. Row-major, column-major,
//! sub-matrices with a leading dimension, and transposes are all just choices
//! of strides, so the GEMM driver needs only one code path for all of them.
//! Every constructor checks that the largest reachable index is inside the
//! slice, which is what lets the driver use unchecked pointer arithmetic.

use crate::error::GemmError;

/// Number of elements a `rows x cols` view with these strides needs, or
/// `None` on overflow. An empty view needs nothing, whatever its strides.
fn needed_len(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1)
        .checked_mul(rs)?
        .checked_add((cols - 1).checked_mul(cs)?)?
        .checked_add(1)
}

fn check_bounds(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<(), GemmError> {
    let needed = needed_len(rows, cols, rs, cs);
    match needed {
        Some(n) if n <= len => Ok(()),
        _ => Err(GemmError::OutOfBounds {
            rows,
            cols,
            row_stride: rs,
            col_stride: cs,
            needed: needed.unwrap_or(usize::MAX),
            len,
        }),
    }
}

/// A sufficient condition for `(i, j) -> i * rs + j * cs` to be injective:
/// order the two axes by stride; the small-stride axis must step by at least
/// one and the large-stride axis must jump past the whole small-stride run.
/// Axes of extent 1 never move, so their stride is irrelevant.
fn check_no_alias(rows: usize, cols: usize, rs: usize, cs: usize) -> Result<(), GemmError> {
    // An empty view has no elements to alias.
    let ok = rows == 0
        || cols == 0
        || match (rows > 1, cols > 1) {
            (false, false) => true,
            (true, false) => rs >= 1,
            (false, true) => cs >= 1,
            (true, true) => {
                let ((small, n_small), big) = if rs <= cs { ((rs, rows), cs) } else { ((cs, cols), rs) };
                let run = (n_small - 1).checked_mul(small).and_then(|r| r.checked_add(1));
                small >= 1 && run.is_some_and(|run| big >= run)
            }
        };
    if ok {
        Ok(())
    } else {
        Err(GemmError::AliasingStrides {
            rows,
            cols,
            row_stride: rs,
            col_stride: cs,
        })
    }
}

/// An immutable matrix view; `Copy`, so it can be passed around freely.
#[derive(Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<T> Clone for MatRef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for MatRef<'_, T> {}

impl<'a, T> MatRef<'a, T> {
    /// Row-major `rows x cols` view (`row_stride = cols`, `col_stride = 1`).
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self, GemmError> {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// Column-major `rows x cols` view (`row_stride = 1`, `col_stride = rows`).
    pub fn col_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self, GemmError> {
        Self::strided(data, rows, cols, 1, rows)
    }

    /// General strided view; checks that the largest index is inside `data`.
    /// Strides may be zero (a broadcast view is fine to read).
    pub fn strided(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, GemmError> {
        check_bounds(data.len(), rows, cols, row_stride, col_stride)?;
        Ok(Self {
            data,
            rows,
            cols,
            rs: row_stride,
            cs: col_stride,
        })
    }

    /// The transposed view: swaps the extents and the strides, copies nothing.
    /// This is how `op(A) = A^T` is expressed.
    #[must_use]
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row stride in elements.
    pub fn row_stride(&self) -> usize {
        self.rs
    }

    /// Column stride in elements.
    pub fn col_stride(&self) -> usize {
        self.cs
    }

    /// The underlying slice (element `(0, 0)` is its first element).
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }

    /// Element `(i, j)`, or `None` outside the view.
    pub fn get(&self, i: usize, j: usize) -> Option<&'a T> {
        if i < self.rows && j < self.cols {
            self.data.get(i * self.rs + j * self.cs)
        } else {
            None
        }
    }

    /// The `rows x cols` block starting at `(row0, col0)`.
    pub fn submatrix(self, row0: usize, col0: usize, rows: usize, cols: usize) -> Result<Self, GemmError> {
        let fits = row0.checked_add(rows).is_some_and(|e| e <= self.rows)
            && col0.checked_add(cols).is_some_and(|e| e <= self.cols);
        if !fits {
            return Err(GemmError::OutOfBounds {
                rows,
                cols,
                row_stride: self.rs,
                col_stride: self.cs,
                needed: usize::MAX,
                len: self.data.len(),
            });
        }
        if rows == 0 || cols == 0 {
            return Self::strided(&self.data[..0], rows, cols, self.rs, self.cs);
        }
        let off = row0 * self.rs + col0 * self.cs;
        Self::strided(&self.data[off..], rows, cols, self.rs, self.cs)
    }

    pub(crate) fn ptr(&self) -> *const T {
        self.data.as_ptr()
    }
}

/// A mutable matrix view. Its strides are checked not to alias, so writing
/// one element never changes another.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> MatMut<'a, T> {
    /// Row-major `rows x cols` view.
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Result<Self, GemmError> {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// Column-major `rows x cols` view.
    pub fn col_major(data: &'a mut [T], rows: usize, cols: usize) -> Result<Self, GemmError> {
        Self::strided(data, rows, cols, 1, rows)
    }

    /// General strided view: checks bounds and rejects strides under which
    /// two elements would share a location (see [`GemmError::AliasingStrides`]).
    pub fn strided(
        data: &'a mut [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, GemmError> {
        check_bounds(data.len(), rows, cols, row_stride, col_stride)?;
        check_no_alias(rows, cols, row_stride, col_stride)?;
        Ok(Self {
            data,
            rows,
            cols,
            rs: row_stride,
            cs: col_stride,
        })
    }

    /// The transposed view (swaps extents and strides).
    #[must_use]
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// A shorter-lived mutable view of the same matrix.
    pub fn reborrow(&mut self) -> MatMut<'_, T> {
        MatMut {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        }
    }

    /// An immutable view of the same matrix.
    pub fn as_ref(&self) -> MatRef<'_, T> {
        MatRef {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row stride in elements.
    pub fn row_stride(&self) -> usize {
        self.rs
    }

    /// Column stride in elements.
    pub fn col_stride(&self) -> usize {
        self.cs
    }

    pub(crate) fn ptr_mut(&mut self) -> *mut T {
        self.data.as_mut_ptr()
    }
}
