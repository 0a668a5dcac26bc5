//! Logging shim: routes to `defmt`, to `log`, or to nothing.
//!
//! Only protocol progress is logged. Key material, MAC keys and signatures
//! never reach these macros.
#![allow(unused_macros)]

macro_rules! acme_trace {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::trace!($($arg)*);
        #[cfg(feature = "log")]
        ::log::trace!($($arg)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        let _ = ::core::format_args!($($arg)*);
    }};
}

macro_rules! acme_debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::debug!($($arg)*);
        #[cfg(feature = "log")]
        ::log::debug!($($arg)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        let _ = ::core::format_args!($($arg)*);
    }};
}

macro_rules! acme_warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::warn!($($arg)*);
        #[cfg(feature = "log")]
        ::log::warn!($($arg)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        let _ = ::core::format_args!($($arg)*);
    }};
}
