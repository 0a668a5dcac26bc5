//! Accounts and the account's orders list (RFC 8555 §7.1.2, §7.1.2.1).

use serde::Deserialize;

use super::{Bounded, JsonStr, Message, MAX_ORDERS_PER_PAGE, MAX_SMALL_LIST};
use crate::Error;

/// An account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    /// Usable.
    Valid,
    /// Deactivated by the client.
    Deactivated,
    /// Revoked by the server.
    Revoked,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// An account object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account<'a> {
    /// `status`.
    pub status: AccountStatus,
    /// `contact`.
    #[serde(borrow, default)]
    pub contact: Bounded<JsonStr<'a>, MAX_SMALL_LIST>,
    /// `termsOfServiceAgreed`.
    #[serde(default)]
    pub terms_of_service_agreed: bool,
    /// `orders`: the URL of the account's orders list.
    #[serde(borrow)]
    pub orders: Option<JsonStr<'a>>,
}

impl<'a> Message<'a> for Account<'a> {
    fn check_limits(&self) -> Result<(), Error> {
        self.contact.check("MAX_SMALL_LIST (contact)")
    }
}

/// One page of an account's orders list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrdersPage<'a> {
    /// `orders`: order URLs.
    #[serde(borrow, default)]
    pub orders: Bounded<JsonStr<'a>, MAX_ORDERS_PER_PAGE>,
}

impl<'a> Message<'a> for OrdersPage<'a> {
    fn check_limits(&self) -> Result<(), Error> {
        self.orders.check("MAX_ORDERS_PER_PAGE")
    }
}
