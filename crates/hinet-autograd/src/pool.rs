//! A buffer pool so that a training loop in its steady state allocates nothing per op.
//!
//! Every tensor a tape creates (values, gradients, saved state) is carved out of a `Vec<F>`
//! taken from here, and goes back here when the tape is dropped or the gradient is consumed.
//! A step of a fixed model asks for the same lengths in the same order every time, so after
//! the first step every request is served from a free list keyed by exact length.

use crate::float::Float;
use ndarray::{ArrayD, IxDyn};
use std::collections::HashMap;

/// Free lists of buffers, keyed by their exact length.
#[derive(Debug, Default)]
pub(crate) struct BufferPool<F> {
    free: HashMap<usize, Vec<Vec<F>>>,
    index_free: Vec<Vec<usize>>,
    fresh_allocations: usize,
}

impl<F: Float> BufferPool<F> {
    /// An empty pool.
    pub(crate) fn new() -> Self {
        Self {
            free: HashMap::new(),
            index_free: Vec::new(),
            fresh_allocations: 0,
        }
    }

    /// How many buffers the pool had to allocate because no free one of that length existed.
    /// Constant across steps once the loop is warm.
    pub(crate) fn fresh_allocations(&self) -> usize {
        self.fresh_allocations
    }

    /// A buffer of `len` elements with unspecified (but initialised) contents.
    pub(crate) fn take_raw(&mut self, len: usize) -> Vec<F> {
        if let Some(buf) = self.free.get_mut(&len).and_then(Vec::pop) {
            return buf;
        }
        self.fresh_allocations += 1;
        vec![F::zero(); len]
    }

    /// A tensor of the given shape filled with zeros.
    pub(crate) fn zeros(&mut self, shape: &[usize]) -> ArrayD<F> {
        let len = shape.iter().product();
        let mut buf = self.take_raw(len);
        buf.fill(F::zero());
        to_array(shape, buf)
    }

    /// A tensor of the given shape whose contents the caller overwrites completely.
    pub(crate) fn uninit(&mut self, shape: &[usize]) -> ArrayD<F> {
        let len = shape.iter().product();
        let buf = self.take_raw(len);
        to_array(shape, buf)
    }

    /// Returns a tensor's buffer to the pool.
    pub(crate) fn recycle(&mut self, array: ArrayD<F>) {
        let (buf, _) = array.into_raw_vec_and_offset();
        if buf.capacity() > 0 {
            self.free.entry(buf.len()).or_default().push(buf);
        }
    }

    /// An empty index list that can hold `len` indices without growing: the smallest free list
    /// that is large enough. (Handing out whichever list is on top would give a short list to a
    /// long request now and then, and it would grow: an allocation in a warm step.)
    pub(crate) fn take_indices(&mut self, len: usize) -> Vec<usize> {
        let best = self
            .index_free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        match best {
            Some(i) => self.index_free.swap_remove(i),
            None => Vec::with_capacity(len),
        }
    }

    /// Returns an index list to the pool.
    pub(crate) fn recycle_indices(&mut self, mut indices: Vec<usize>) {
        indices.clear();
        if indices.capacity() > 0 {
            self.index_free.push(indices);
        }
    }
}

fn to_array<F>(shape: &[usize], buf: Vec<F>) -> ArrayD<F> {
    match ArrayD::from_shape_vec(IxDyn(shape), buf) {
        Ok(a) => a,
        // The buffer was taken with exactly the product of the shape as its length.
        Err(e) => unreachable!("pool buffer does not fit its shape: {e}"),
    }
}
