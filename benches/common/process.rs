//! Child processes of a bench: a guard that kills them on drop, and a free port to bind them to.

use std::net::TcpListener;
use std::ops::{Deref, DerefMut};
use std::process::Child;

/// A child process, killed and reaped on drop (also when the bench fails or panics).
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Deref for ChildGuard {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// A port on `127.0.0.1` nothing listens on right now (the OS picks it; released at once).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
