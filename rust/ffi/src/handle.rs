//! Handles: a mutex around the object's state plus a poison flag.
//!
//! A handle is locked for the whole of a call, so calls from different
//! threads are serialized. When a panic unwinds while the handle is locked,
//! the [`Locked`] guard marks it poisoned; every later call answers
//! `SERENITY_RESULT_POISONED`.

use crate::result::serenity_result;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// An object's state behind a lock, with a poison flag.
pub(crate) struct Handle<T> {
    state: Mutex<T>,
    poisoned: AtomicBool,
}

impl<T> Handle<T> {
    /// A fresh, healthy handle.
    pub(crate) fn new(state: T) -> Self {
        Handle {
            state: Mutex::new(state),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Fails when the handle was poisoned by an earlier panic.
    pub(crate) fn check(&self) -> Result<(), serenity_result> {
        if self.poisoned.load(Ordering::SeqCst) {
            Err(serenity_result::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Locks the handle for this call; fails when it is poisoned.
    pub(crate) fn lock(&self) -> Result<Locked<'_, T>, serenity_result> {
        self.check()?;
        match self.state.lock() {
            Ok(guard) => Ok(Locked {
                guard,
                poisoned: &self.poisoned,
            }),
            Err(_) => {
                self.poisoned.store(true, Ordering::SeqCst);
                Err(serenity_result::Poisoned)
            }
        }
    }

    /// Whether the handle is poisoned.
    #[cfg(test)]
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }
}

/// The locked state of a handle for one call. Poisons the handle if dropped
/// while a panic unwinds.
pub(crate) struct Locked<'a, T> {
    guard: MutexGuard<'a, T>,
    poisoned: &'a AtomicBool,
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.poisoned.store(true, Ordering::SeqCst);
        }
    }
}

impl<T> Deref for Locked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// Borrows the object behind a handle pointer for the call.
///
/// # Safety
/// `p` is NULL or a pointer returned by the matching `*_new_*` function and
/// not yet freed.
pub(crate) unsafe fn object<'a, H>(p: *const H) -> Result<&'a H, serenity_result> {
    // SAFETY: by this function's contract, a non-NULL `p` points to a live
    // object created by `Box::into_raw`, which is only freed by `*_free`.
    unsafe { p.as_ref() }.ok_or(serenity_result::NullParameter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_locked_poisons_the_handle() {
        let h = Handle::new(1u32);
        let r = crate::panic::boundary_result("test", || {
            let mut s = h.lock()?;
            *s += 1;
            panic!("half-way");
        });
        assert_eq!(r, serenity_result::Panic);
        assert!(h.is_poisoned());
        assert_eq!(h.lock().err(), Some(serenity_result::Poisoned));
    }

    #[test]
    fn a_healthy_handle_locks_again_and_again() {
        let h = Handle::new(0u32);
        for _ in 0..3 {
            *h.lock().expect("healthy") += 1;
        }
        assert_eq!(*h.lock().expect("healthy"), 3);
    }
}
