//! dns-01 on a device: the application publishes the TXT record.
//!
//! A device rarely runs the DNS zone of its own name. How the record gets
//! there (a DNS provider's API, a companion service, an RFC 2136 update)
//! is the application's to say, in a [`Dns01Publisher`]; the
//! [`Dns01Solver`] turns the client's challenges into calls to it.
//!
//! ```
//! use acme_embassy::dns01::{Dns01Publisher, Dns01Solver};
//!
//! /// Publishes through the fleet's provisioning service.
//! struct Provisioning;
//!
//! #[derive(Debug)]
//! struct Unreachable;
//!
//! impl Dns01Publisher for Provisioning {
//!     type Error = Unreachable;
//!
//!     async fn publish(&mut self, name: &str, value: &str) -> Result<(), Unreachable> {
//!         // POST {name, value} to the service, wait until it answers
//!         // that the record is live on every authoritative server.
//!         let _ = (name, value);
//!         Ok(())
//!     }
//!
//!     async fn remove(&mut self, name: &str, value: &str) {
//!         let _ = (name, value);
//!     }
//! }
//!
//! // Pass it to `driver::run` as the solver, with dns-01 preferred in the
//! // client's `Config::challenge_preference`.
//! let mut solver = Dns01Solver::new(Provisioning);
//! # let _ = &mut solver;
//! ```

use acme_core::client::ChallengeTask;
use acme_core::msg::ChallengeType;

use crate::driver::{ChallengeSolver, Error};

/// What the application does to put a dns-01 TXT record in place and take
/// it away.
#[allow(async_fn_in_trait)]
pub trait Dns01Publisher {
    /// Why publishing failed, kept by [`Dns01Solver::last_error`].
    type Error;

    /// Publishes the TXT record `value` at `name`
    /// (`_acme-challenge.<domain>`), returning once the CA's resolvers can
    /// see it: the client answers the challenge as soon as this returns.
    ///
    /// # Errors
    /// Whatever kept the record from being published; the run then fails
    /// with [`Error::Challenge`].
    async fn publish(&mut self, name: &str, value: &str) -> Result<(), Self::Error>;

    /// Removes the record published for `name` with `value`, once the
    /// authorization is settled. Failing here fails nothing: a stale TXT
    /// record is harmless to the next validation.
    async fn remove(&mut self, name: &str, value: &str);
}

/// A [`ChallengeSolver`] for dns-01 through the application's
/// [`Dns01Publisher`]. It refuses other challenge types.
pub struct Dns01Solver<P: Dns01Publisher> {
    publisher: P,
    last_error: Option<P::Error>,
}

impl<P: Dns01Publisher> Dns01Solver<P> {
    /// A solver publishing through `publisher`.
    pub fn new(publisher: P) -> Self {
        Self {
            publisher,
            last_error: None,
        }
    }

    /// The publisher's error behind the last [`Error::Challenge`].
    ///
    /// ```
    /// # use acme_core::challenge::KeyAuthorization;
    /// # use acme_core::client::{ChallengeId, ChallengeTask};
    /// # use acme_core::msg::ChallengeType;
    /// # use acme_core::{Identifier, Thumbprint};
    /// use acme_embassy::dns01::{Dns01Publisher, Dns01Solver};
    /// use acme_embassy::driver::{ChallengeSolver, Error};
    ///
    /// /// A provider API that answers with an HTTP status.
    /// struct Provider;
    ///
    /// impl Dns01Publisher for Provider {
    ///     type Error = u16;
    ///     async fn publish(&mut self, _name: &str, _value: &str) -> Result<(), u16> {
    ///         Err(429) // rate limited
    ///     }
    ///     async fn remove(&mut self, _name: &str, _value: &str) {}
    /// }
    ///
    /// # let task = ChallengeTask {
    /// #     id: ChallengeId(0),
    /// #     kind: ChallengeType::Dns01,
    /// #     identifier: Identifier::dns("device-17.example")?,
    /// #     key_authorization: KeyAuthorization::new("tok3n", &Thumbprint([7; 32]))?,
    /// # };
    /// let mut solver = Dns01Solver::new(Provider);
    /// let provisioned = embassy_futures::block_on(solver.provision(&task));
    /// assert_eq!(provisioned, Err(Error::Challenge));
    /// assert_eq!(solver.last_error(), Some(&429));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    pub fn last_error(&self) -> Option<&P::Error> {
        self.last_error.as_ref()
    }

    /// The publisher back.
    pub fn into_publisher(self) -> P {
        self.publisher
    }
}

impl<P: Dns01Publisher> ChallengeSolver for Dns01Solver<P> {
    async fn provision(&mut self, task: &ChallengeTask<'_>) -> Result<(), Error> {
        if task.kind != ChallengeType::Dns01 {
            return Err(Error::Challenge);
        }
        // The identifier is a dns name: the client only offers dns-01 for
        // those.
        let name = task.dns01_record_name().map_err(|_| Error::Challenge)?;
        let value = task.dns01_value();
        match self.publisher.publish(&name, value.as_str()).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.last_error = Some(e);
                Err(Error::Challenge)
            }
        }
    }

    async fn cleanup(&mut self, task: &ChallengeTask<'_>) {
        if let Ok(name) = task.dns01_record_name() {
            self.publisher
                .remove(&name, task.dns01_value().as_str())
                .await;
        }
    }
}
