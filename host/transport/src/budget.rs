//! The request-body budget: bytes of request bodies held at once across every connection of a
//! server. A body takes budget as it grows and gives it back when its [`BudgetHold`] is dropped.

use crate::frame::FrameError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One server's budget (cheap to clone: the clones share it).
#[derive(Debug, Clone)]
pub(crate) struct BodyBudget {
    semaphore: Arc<Semaphore>,
    total: usize,
    wait: Duration,
}

impl BodyBudget {
    /// A budget of `total` bytes (at most [`Semaphore::MAX_PERMITS`]); a body waits at most
    /// `wait` for each piece it asks for.
    pub(crate) fn new(total: u64, wait: Duration) -> BodyBudget {
        let total = usize::try_from(total)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        BodyBudget {
            semaphore: Arc::new(Semaphore::new(total)),
            total,
            wait,
        }
    }

    /// Bytes held by bodies right now.
    pub(crate) fn in_use(&self) -> usize {
        self.total - self.semaphore.available_permits()
    }

    /// A hold for one body, holding nothing yet.
    pub(crate) fn hold(&self) -> BudgetHold {
        BudgetHold {
            budget: self.clone(),
            permit: None,
        }
    }
}

/// The budget one body holds; dropping it gives the budget back.
#[derive(Debug)]
pub(crate) struct BudgetHold {
    budget: BodyBudget,
    permit: Option<OwnedSemaphorePermit>,
}

impl BudgetHold {
    /// Takes `bytes` more, waiting (in the order bodies asked) while the budget is spent. Fails
    /// with [`FrameError::Busy`] if that takes longer than the budget's wait; what this hold
    /// already has stays held until it is dropped.
    pub(crate) async fn grow(&mut self, bytes: usize) -> Result<(), FrameError> {
        let wait = self.budget.wait;
        let busy = || FrameError::Busy {
            budget: self.budget.total as u64,
            waited: wait,
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut left = bytes;
        while left > 0 {
            let piece = u32::try_from(left).unwrap_or(u32::MAX);
            let acquire = self.budget.semaphore.clone().acquire_many_owned(piece);
            let permit = match tokio::time::timeout_at(deadline, acquire).await {
                Ok(Ok(permit)) => permit,
                // The semaphore is never closed; treat it like a budget that stays spent.
                Ok(Err(_)) | Err(_) => return Err(busy()),
            };
            match &mut self.permit {
                Some(held) => held.merge(permit),
                None => self.permit = Some(permit),
            }
            left -= piece as usize;
        }
        Ok(())
    }

    /// Bytes this hold has.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.permit.as_ref().map_or(0, |p| p.num_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holds_add_up_wait_and_give_back_on_drop() {
        let budget = BodyBudget::new(100, Duration::from_millis(50));
        let mut a = budget.hold();
        a.grow(60).await.expect("60 of 100");
        a.grow(10).await.expect("70 of 100");
        assert_eq!((a.held(), budget.in_use()), (70, 70));

        let mut b = budget.hold();
        let error = b.grow(40).await.expect_err("only 30 left");
        assert_eq!(error.kind(), "busy");
        assert_eq!(b.held(), 0, "a piece that did not fit is not half taken");
        assert_eq!(budget.in_use(), 70);

        // A waiting body gets its budget when another gives it back within the wait.
        let waiting = tokio::spawn({
            let mut b = budget.hold();
            async move {
                let grown = b.grow(40).await;
                (grown.is_ok(), b.held())
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(a);
        assert_eq!(waiting.await.expect("join"), (true, 40));
        assert_eq!(
            budget.in_use(),
            0,
            "the waiting hold was dropped with its task"
        );
    }
}
