//! A buffer pool so that a training loop in its steady state allocates nothing per op.
//!
//! Every tensor a tape creates (values, gradients, saved state) is carved out of a `Vec<F>`
//! taken from here, and goes back here when the tape is dropped or the gradient is consumed.
//! A step of a fixed model asks for the same lengths in the same order every time, so after
//! the first step every request is served from a free list.
//!
//! The free lists are keyed by size class, not exact length: HiNet routes each row to its own
//! scenario's experts, so the lengths of a step's tensors change with the batch's scenario mix,
//! and a pool keyed by exact length kept a buffer for every length it had ever seen (a 3 M row
//! run grew to gigabytes). Classes are quarter octaves (8, 10, 12, 14, 16, 20, ...): a buffer
//! serves every length of its class, wasting at most a quarter of it, and the number of
//! buffers the pool holds stays that of one step's tensors times the few classes they span.

use crate::float::Float;
use ndarray::{ArrayD, IxDyn};

/// Free lists of buffers, by size class ([`class_index`]).
#[derive(Debug, Default)]
pub(crate) struct BufferPool<F> {
    /// `free[class_index(c)]`: buffers that serve class `c`. A vector, not a hash map: every
    /// op takes and returns buffers, and hashing the class was 2 % of a one-row prediction.
    free: Vec<Vec<Vec<F>>>,
    index_free: Vec<Vec<usize>>,
    fresh_allocations: usize,
}

impl<F: Float> BufferPool<F> {
    /// An empty pool.
    pub(crate) fn new() -> Self {
        Self {
            free: Vec::new(),
            index_free: Vec::new(),
            fresh_allocations: 0,
        }
    }

    /// How many buffers the pool had to allocate because no free one of that length existed.
    /// Constant across steps once the loop is warm.
    pub(crate) fn fresh_allocations(&self) -> usize {
        self.fresh_allocations
    }

    /// A buffer of `len` elements with unspecified (but initialised) contents, from the free
    /// list of `len`'s size class.
    pub(crate) fn take_raw(&mut self, len: usize) -> Vec<F> {
        let class = class_up(len);
        let mut buf = match self.free.get_mut(class_index(class)).and_then(Vec::pop) {
            Some(buf) => buf,
            None => {
                self.fresh_allocations += 1;
                Vec::with_capacity(class)
            }
        };
        // Within the class's capacity: no allocation. Shrinking keeps the old values (they are
        // unspecified anyway); growing writes zeros over the new tail only.
        if buf.len() > len {
            buf.truncate(len);
        } else {
            buf.resize(len, F::zero());
        }
        buf
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

    /// Returns a tensor's buffer to the pool, under the largest size class its capacity holds.
    pub(crate) fn recycle(&mut self, array: ArrayD<F>) {
        let (buf, _) = array.into_raw_vec_and_offset();
        if buf.capacity() > 0 {
            let index = class_index(class_down(buf.capacity()));
            if self.free.len() <= index {
                // Once per class the pool ever sees (a warm loop sees no new one).
                self.free.resize_with(index + 1, Vec::new);
            }
            self.free[index].push(buf);
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

/// The smallest size class that holds `len`: `len` itself below 8, else the next quarter
/// octave (`2^k + j 2^(k-2)`, j = 0..4).
fn class_up(len: usize) -> usize {
    if len < 8 {
        return len;
    }
    let k = usize::BITS - 1 - len.leading_zeros();
    let base = 1usize << k;
    let quarter = base >> 2;
    let steps = (len - base).div_ceil(quarter);
    base.saturating_add(steps * quarter)
}

/// The largest size class that `capacity` holds (the class a recycled buffer can serve).
fn class_down(capacity: usize) -> usize {
    if capacity < 8 {
        return capacity;
    }
    let k = usize::BITS - 1 - capacity.leading_zeros();
    let base = 1usize << k;
    let quarter = base >> 2;
    base + (capacity - base) / quarter * quarter
}

/// The position of size class `class` (a value of [`class_up`] or [`class_down`]) among all
/// classes in increasing order: `class` itself below 8, then four per octave.
fn class_index(class: usize) -> usize {
    if class < 8 {
        return class;
    }
    let k = (usize::BITS - 1 - class.leading_zeros()) as usize;
    let quarter = 1usize << (k - 2);
    8 + (k - 3) * 4 + (class - (1 << k)) / quarter
}

fn to_array<F>(shape: &[usize], buf: Vec<F>) -> ArrayD<F> {
    match ArrayD::from_shape_vec(IxDyn(shape), buf) {
        Ok(a) => a,
        // The buffer was taken with exactly the product of the shape as its length.
        Err(e) => unreachable!("pool buffer does not fit its shape: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_hold_the_length_and_waste_at_most_a_quarter() {
        for len in 0..5000usize {
            let c = class_up(len);
            assert!(c >= len, "{len} -> {c}");
            assert!(
                len < 8 || c * 4 <= len * 5 + 3,
                "{len} -> {c} wastes more than a quarter"
            );
            assert_eq!(class_down(c), c, "a class is its own class ({len} -> {c})");
            assert!(class_up(len + 1) >= c, "monotone at {len}");
            // A buffer of any capacity serves requests of the class below it.
            let down = class_down(len);
            assert!(down <= len && class_up(down) == down, "{len} -> {down}");
        }
        assert_eq!(
            (8..=20).map(class_up).collect::<Vec<_>>(),
            vec![8, 10, 10, 12, 12, 14, 14, 16, 16, 20, 20, 20, 20]
        );
        // Classes in increasing order have consecutive indices, from 0 up.
        let mut classes: Vec<usize> = (0..100_000).map(class_up).collect();
        classes.dedup();
        for (i, &c) in classes.iter().enumerate() {
            assert_eq!(class_index(c), i, "class {c}");
        }
        assert!(class_index(class_up(usize::MAX / 2)) < 4 * usize::BITS as usize);
    }

    /// Lengths that change from step to step (as scenario routing makes them) no longer grow
    /// the pool: after warming up on the range, no fresh allocation.
    #[test]
    fn varying_lengths_reuse_the_class_buffers() {
        let mut pool = BufferPool::<f32>::new();
        let mut lengths = (0..4000u64).map(|i| 1000 + (i.wrapping_mul(2_654_435_761) % 1000) as usize);
        let step = |pool: &mut BufferPool<f32>, a: usize, b: usize| {
            let x = pool.uninit(&[a]);
            let y = pool.zeros(&[b, 3]);
            assert_eq!((x.len(), y.len()), (a, 3 * b));
            assert!(y.iter().all(|&v| v == 0.0));
            pool.recycle(x);
            pool.recycle(y);
        };
        for (a, b) in [(1000, 1000), (1999, 1999)] {
            step(&mut pool, a, b);
        }
        for _ in 0..100 {
            let (a, b) = (lengths.next().unwrap(), lengths.next().unwrap());
            step(&mut pool, a, b);
        }
        let warm = pool.fresh_allocations();
        for _ in 0..1900 {
            let (a, b) = (lengths.next().unwrap(), lengths.next().unwrap());
            step(&mut pool, a, b);
        }
        // Lengths 1000..2000 span the classes 1024, 1280, 1536, 1792, 2048 (and 3x that):
        // a handful of buffers in all, not one per length.
        assert_eq!(pool.fresh_allocations(), warm, "no fresh buffers once warm");
        assert!(warm <= 12, "{warm} buffers for 2 tensors over 5 + 5 classes");
    }
}
