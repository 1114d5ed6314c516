//! Connections per identity: how many each peer (role and name) has open, and the cap on it.

use crate::peer::Peer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The connections open per identity on one server.
#[derive(Debug)]
pub(crate) struct Admission {
    max_per_identity: u32,
    open: Mutex<HashMap<Peer, u32>>,
}

/// One admitted connection; dropping it frees its identity's slot.
#[derive(Debug)]
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    peer: Peer,
}

impl Admission {
    pub(crate) fn new(max_per_identity: u32) -> Arc<Admission> {
        Arc::new(Admission {
            max_per_identity,
            open: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn max_per_identity(&self) -> u32 {
        self.max_per_identity
    }

    /// A slot for one more connection of `peer`, or `None` if it already has the most allowed.
    pub(crate) fn admit(self: &Arc<Self>, peer: &Peer) -> Option<Admitted> {
        let mut open = self.lock();
        let count = open.entry(peer.clone()).or_insert(0);
        if *count >= self.max_per_identity {
            return None;
        }
        *count += 1;
        Some(Admitted {
            admission: self.clone(),
            peer: peer.clone(),
        })
    }

    /// Connections `peer` has open.
    pub(crate) fn open(&self, peer: &Peer) -> u32 {
        self.lock().get(peer).copied().unwrap_or(0)
    }

    /// The map stays consistent across a panic elsewhere (every change is one step), so a
    /// poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, HashMap<Peer, u32>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.admission.lock();
        if let Some(count) = open.get_mut(&self.peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_certs::Role;

    #[test]
    fn each_identity_has_its_own_count() {
        let admission = Admission::new(2);
        let w1 = Peer {
            role: Role::Worker,
            name: "w1".into(),
        };
        let c1 = Peer {
            role: Role::Client,
            name: "w1".into(),
        };
        let first = admission.admit(&w1).expect("1 of 2");
        let _second = admission.admit(&w1).expect("2 of 2");
        assert!(admission.admit(&w1).is_none(), "3 of 2");
        let _other = admission.admit(&c1).expect("another role, same name");
        drop(first);
        assert_eq!(admission.open(&w1), 1);
        let _again = admission.admit(&w1).expect("a freed slot is reused");
        assert!(admission.admit(&w1).is_none());
    }
}
