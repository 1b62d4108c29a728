//! Helpers shared by the executor's test files.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use morgana_executor::Executor;
use morgana_executor::sim::SimPlatform;

/// An executor on a fresh simulator with `seed`, and the simulator.
pub fn sim(seed: u64) -> (Executor, Rc<SimPlatform>) {
    let platform = Rc::new(SimPlatform::new(seed));
    (Executor::new(platform.clone()), platform)
}

/// A shared, ordered log that tasks append to.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}
