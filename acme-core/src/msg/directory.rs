//! The directory (RFC 8555 §7.1.1), with RFC 9773's `renewalInfo`.

use serde::Deserialize;

use super::{Bounded, JsonStr, Message, NamedEntries, MAX_SMALL_LIST};
use crate::Error;

/// The directory object: the URL of every resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory<'a> {
    /// `newNonce`.
    #[serde(borrow)]
    pub new_nonce: Option<JsonStr<'a>>,
    /// `newAccount`.
    #[serde(borrow)]
    pub new_account: Option<JsonStr<'a>>,
    /// `newOrder`.
    #[serde(borrow)]
    pub new_order: Option<JsonStr<'a>>,
    /// `newAuthz` (pre-authorization; optional, unused by this client).
    #[serde(borrow)]
    pub new_authz: Option<JsonStr<'a>>,
    /// `revokeCert`.
    #[serde(borrow)]
    pub revoke_cert: Option<JsonStr<'a>>,
    /// `keyChange`.
    #[serde(borrow)]
    pub key_change: Option<JsonStr<'a>>,
    /// `renewalInfo` (RFC 9773 §3).
    #[serde(borrow)]
    pub renewal_info: Option<JsonStr<'a>>,
    /// `meta`.
    #[serde(borrow)]
    pub meta: Option<DirectoryMeta<'a>>,
}

/// The directory's `meta` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryMeta<'a> {
    /// `termsOfService`.
    #[serde(borrow)]
    pub terms_of_service: Option<JsonStr<'a>>,
    /// `website`.
    #[serde(borrow)]
    pub website: Option<JsonStr<'a>>,
    /// `caaIdentities`.
    #[serde(borrow, default)]
    pub caa_identities: Bounded<JsonStr<'a>, MAX_SMALL_LIST>,
    /// `externalAccountRequired`.
    #[serde(default)]
    pub external_account_required: bool,
    /// `profiles`: name → description.
    #[serde(borrow, default)]
    pub profiles: Profiles<'a>,
}

/// The profiles a directory offers.
pub type Profiles<'a> = NamedEntries<'a, MAX_SMALL_LIST>;

impl<'a> Message<'a> for Directory<'a> {
    fn check_limits(&self) -> Result<(), Error> {
        if let Some(meta) = &self.meta {
            meta.caa_identities
                .check("MAX_SMALL_LIST (caaIdentities)")?;
            meta.profiles.check("MAX_SMALL_LIST (profiles)")?;
        }
        Ok(())
    }
}
