//! Event codes, status strings and other enumerated values of the protocol.
//!
//! Every enum here has an `Other(..)` fallback so that a value this crate does not know
//! survives decoding. Equality, ordering-free hashing and encoding all go through the wire
//! form ([`EventType::code`], [`AppStatus::as_str`], ...), so `EventType::Other(3)` and
//! [`EventType::UpdateComplete`] are equal and encode identically; decoding always produces
//! the named variant.

use std::fmt;
use std::hash::{Hash, Hasher};

/// Defines an integer-coded enum with an `Other(i64)` fallback, equality by code.
macro_rules! int_code_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A code this crate has no name for, kept as sent.
            Other(i64),
        }

        impl $name {
            /// The decimal code written on the wire.
            #[must_use]
            pub const fn code(self) -> i64 {
                match self {
                    $( Self::$variant => $code, )+
                    Self::Other(code) => code,
                }
            }

            /// The variant for a wire code; codes without a name become `Other`.
            #[must_use]
            pub const fn from_code(code: i64) -> Self {
                match code {
                    $( $code => Self::$variant, )+
                    other => Self::Other(other),
                }
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.code() == other.code()
            }
        }

        impl Eq for $name {}

        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.code().hash(state);
            }
        }

        impl From<i64> for $name {
            fn from(code: i64) -> Self {
                Self::from_code(code)
            }
        }

        impl From<$name> for i64 {
            fn from(value: $name) -> Self {
                value.code()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.code())
            }
        }
    };
}

/// Defines a string-valued enum with an `Other(String)` fallback, equality by wire string.
macro_rules! str_code_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate has no name for, kept byte for byte as sent.
            Other(String),
        }

        impl $name {
            /// The string written on the wire (case-sensitive).
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(text) => text,
                }
            }

            /// The variant for a wire string (exact, case-sensitive match); anything else
            /// becomes `Other`.
            #[must_use]
            pub fn parse(text: &str) -> Self {
                match text {
                    $( $text => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $name {}

        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.as_str().hash(state);
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::parse(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

int_code_enum! {
    /// `event@eventtype` (omaha-protocol.md §5.1). CoreOS and Flatcar clients use 3, 13, 14
    /// and (Nebraska only) 800.
    EventType {
        /// 0: unknown.
        Unknown = 0,
        /// 1: download complete.
        DownloadComplete = 1,
        /// 2: install complete (first install).
        InstallComplete = 2,
        /// 3: update complete; with result 2 the "I am running the new version" report that
        /// update_engine attaches to every update check.
        UpdateComplete = 3,
        /// 4: uninstall.
        Uninstall = 4,
        /// 5: download started.
        DownloadStarted = 5,
        /// 6: install started.
        InstallStarted = 6,
        /// 9: new application install started.
        NewApplicationInstallStarted = 9,
        /// 10: setup started.
        SetupStarted = 10,
        /// 11: setup finished.
        SetupFinished = 11,
        /// 12: update application started.
        UpdateApplicationStarted = 12,
        /// 13: update download started.
        UpdateDownloadStarted = 13,
        /// 14: update download finished.
        UpdateDownloadFinished = 14,
        /// 15: update installer started.
        UpdateInstallerStarted = 15,
        /// 16: setup update begin.
        SetupUpdateBegin = 16,
        /// 17: setup update complete.
        SetupUpdateComplete = 17,
        /// 20: register product complete.
        RegisterProductComplete = 20,
        /// 30: OEM install first check.
        OemInstallFirstCheck = 30,
        /// 40: app-specific command started.
        AppCommandStarted = 40,
        /// 41: app-specific command ended.
        AppCommandEnded = 41,
        /// 50: update-check failure (V3 document).
        UpdateCheckFailure = 50,
        /// 100: setup failure.
        SetupFailure = 100,
        /// 102: COM server failure.
        ComServerFailure = 102,
        /// 103: setup update failure.
        SetupUpdateFailure = 103,
        /// 800: Nebraska/CoreUpdate extension: installed successfully, but the instance holds
        /// back completing the update.
        InstalledCompletionHeld = 800,
    }
}

int_code_enum! {
    /// `event@eventresult` (omaha-protocol.md §5.2). The spec default, used when the
    /// attribute is absent, is 0 ([`EventResult::Error`]).
    EventResult {
        /// 0: error.
        Error = 0,
        /// 1: success.
        Success = 1,
        /// 2: success, reboot required.
        SuccessReboot = 2,
        /// 3: success, browser restart required.
        SuccessRestartBrowser = 3,
        /// 4: cancelled.
        Cancelled = 4,
        /// 5: error in the installer MSI.
        ErrorInstallerMsi = 5,
        /// 6: error in the installer (other).
        ErrorInstallerOther = 6,
        /// 7: no update (the server said noupdate).
        NoUpdate = 7,
        /// 8: error in the installer (system).
        ErrorInstallerSystem = 8,
        /// 9: update deferred.
        UpdateDeferred = 9,
        /// 10: handoff error.
        HandoffError = 10,
    }
}

str_code_enum! {
    /// `app@status` in a response (omaha-protocol.md §4.1).
    AppStatus {
        /// `ok`: the app is known; look at the children's statuses.
        Ok = "ok",
        /// `restricted`: known, but refused by policy.
        Restricted = "restricted",
        /// `error-unknownApplication`.
        UnknownApplication = "error-unknownApplication",
        /// `error-invalidAppId`.
        InvalidAppId = "error-invalidAppId",
        /// `error-invalidVersion` (go-omaha).
        InvalidVersion = "error-invalidVersion",
        /// `error-internal` (go-omaha).
        Internal = "error-internal",
    }
}

str_code_enum! {
    /// `updatecheck@status` in a response (omaha-protocol.md §4.2). update_engine accepts
    /// only `ok` and `noupdate`; anything else is its error 34.
    UpdateCheckStatus {
        /// `ok`: an update follows (urls and manifest).
        Ok = "ok",
        /// `noupdate`.
        NoUpdate = "noupdate",
        /// `error-internal`.
        Internal = "error-internal",
        /// `error-hash`.
        Hash = "error-hash",
        /// `error-osnotsupported`.
        OsNotSupported = "error-osnotsupported",
        /// `error-hwnotsupported`.
        HwNotSupported = "error-hwnotsupported",
        /// `error-unsupportedProtocol` (V3 casing; 3.1/4.0 spell it in lower case, which
        /// decodes as `Other`).
        UnsupportedProtocol = "error-unsupportedProtocol",
        /// `error-pluginRestrictedHost` (old V3 document).
        PluginRestrictedHost = "error-pluginRestrictedHost",
        /// `error-inexpressible` (JSON protocol 4.0): no pipeline can be built from the
        /// operations the client accepts.
        Inexpressible = "error-inexpressible",
    }
}

str_code_enum! {
    /// `status` of a response `<ping>`, `<event>` or `<unknown>` acknowledgement
    /// (omaha-protocol.md §4.3).
    AckStatus {
        /// `ok`.
        Ok = "ok",
        /// `error` (only `<unknown status="error">`).
        Error = "error",
    }
}

str_code_enum! {
    /// `data@status` in a response (omaha-protocol.md §4.3).
    DataStatus {
        /// `ok`.
        Ok = "ok",
        /// `error-invalidargs`.
        InvalidArgs = "error-invalidargs",
        /// `error-nodata`.
        NoData = "error-nodata",
    }
}

str_code_enum! {
    /// `action@event` (omaha-protocol.md §3.8). update_engine reads the first
    /// `postinstall` action.
    ActionEvent {
        /// `preinstall`.
        PreInstall = "preinstall",
        /// `install`.
        Install = "install",
        /// `postinstall`: for CoreOS/Flatcar the bag of payload parameters.
        PostInstall = "postinstall",
        /// `update`.
        Update = "update",
    }
}

str_code_enum! {
    /// The `protocol` attribute of `<request>` and `<response>`.
    ///
    /// update_engine and Nebraska never check it; go-omaha rejects anything but `3.0`. This
    /// crate keeps what was sent so a server can answer `error-unsupportedProtocol`.
    ///
    /// The XML codec speaks `3.0`. The JSON codec ([`crate::json`]) speaks `3.0` (the XML
    /// vocabulary as JSON), `3.1` and `4.0`, and picks the shape it writes from this value.
    Protocol {
        /// `3.0`: every constructor sets it.
        V3 = "3.0",
        /// `3.1`: Chromium's JSON protocol.
        V3_1 = "3.1",
        /// `4.0`: Chromium's JSON protocol with pipelines (a draft).
        V4 = "4.0",
    }
}

impl Protocol {
    /// Whether this is protocol 3.0.
    #[must_use]
    pub fn is_v3(&self) -> bool {
        self.as_str() == "3.0"
    }
}

/// Flag bits that update_engine ORs into `errorcode` (omaha-protocol.md §5.4).
pub mod error_code {
    /// Bit 28: the client talks to a non-production Omaha URL. update_engine sets it on
    /// every self-hosted server.
    pub const FLAG_TEST_OMAHA_URL: i64 = 1 << 28;
    /// Bit 29: unofficial build.
    pub const FLAG_UNOFFICIAL_BUILD: i64 = 1 << 29;
    /// Bit 30: resumed update.
    pub const FLAG_RESUMED: i64 = 1 << 30;
    /// Bit 31: developer mode (not set by Flatcar).
    pub const FLAG_DEV_MODE: i64 = 1 << 31;
    /// All flag bits.
    pub const FLAGS: i64 =
        FLAG_TEST_OMAHA_URL | FLAG_UNOFFICIAL_BUILD | FLAG_RESUMED | FLAG_DEV_MODE;

    /// update_engine's error 10: payload hash mismatch.
    pub const PAYLOAD_HASH_MISMATCH: i64 = 10;
    /// update_engine's error 11: payload size mismatch.
    pub const PAYLOAD_SIZE_MISMATCH: i64 = 11;
    /// update_engine's error 30: empty response.
    pub const EMPTY_RESPONSE: i64 = 30;
    /// update_engine's error 31: XML parse error.
    pub const XML_PARSE_ERROR: i64 = 31;
    /// update_engine's error 34: Omaha response invalid.
    pub const RESPONSE_INVALID: i64 = 34;
    /// update_engine's error 44: rollback detected.
    pub const ROLLBACK_DETECTED: i64 = 44;

    /// The code with the flag bits (28 to 31) cleared, ready to interpret.
    ///
    /// ```
    /// use omaha_proto::codes::error_code;
    /// assert_eq!(error_code::without_flags(268437959), 2503);
    /// ```
    #[must_use]
    pub const fn without_flags(code: i64) -> i64 {
        code & !FLAGS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_codes_round_trip_and_compare_by_code() {
        for code in [0, 1, 3, 13, 14, 800, 54, -1, i64::MAX] {
            assert_eq!(EventType::from_code(code).code(), code);
            assert_eq!(EventResult::from_code(code).code(), code);
        }
        assert_eq!(EventType::Other(3), EventType::UpdateComplete);
        assert!(matches!(EventType::from_code(3), EventType::UpdateComplete));
        assert!(matches!(EventType::from_code(54), EventType::Other(54)));
        assert_eq!(EventResult::from_code(9), EventResult::UpdateDeferred);
    }

    #[test]
    fn status_strings_are_case_sensitive() {
        assert_eq!(
            UpdateCheckStatus::parse("error-unsupportedProtocol"),
            UpdateCheckStatus::UnsupportedProtocol
        );
        assert!(matches!(
            UpdateCheckStatus::parse("error-unsupportedprotocol"),
            UpdateCheckStatus::Other(_)
        ));
        assert!(matches!(AppStatus::parse("OK"), AppStatus::Other(_)));
        assert_eq!(AppStatus::Other("ok".into()), AppStatus::Ok);
        assert_eq!(
            AppStatus::UnknownApplication.to_string(),
            "error-unknownApplication"
        );
    }

    #[test]
    fn error_code_flags_mask_off() {
        assert_eq!(
            error_code::without_flags(error_code::FLAG_TEST_OMAHA_URL | 44),
            44
        );
        assert_eq!(error_code::without_flags(2503), 2503);
        assert_eq!(error_code::FLAGS, 0xF000_0000);
    }
}

/// update_engine's name of an `errorcode` (its `ActionExitCode`), after masking off the
/// flag bits 28 to 31 it ORs into the reported code: `268437959` is `HTTP 503`, `44`
/// `rollback detected`. `None` for a code update_engine does not define.
#[must_use]
pub fn error_code_name(code: i64) -> Option<std::borrow::Cow<'static, str>> {
    use std::borrow::Cow;
    let base = code & !0xF000_0000;
    let name = match base {
        0 => "success",
        1 => "error",
        2 => "Omaha request error",
        3 => "Omaha response handler error",
        4 => "filesystem copier error",
        5 => "postinstall runner error",
        6 => "set bootable flag error",
        7 => "install device open error",
        8 => "kernel device open error",
        9 => "download transfer error",
        10 => "payload hash mismatch",
        11 => "payload size mismatch",
        12 => "download payload verification error",
        13 => "download new partition info error",
        14 => "download write error",
        15 => "new rootfs verification error",
        16 => "new kernel verification error",
        17 => "signed delta payload expected",
        18 => "download payload pubkey verification error",
        19 => "postinstall booted from firmware B",
        20 => "download state initialization error",
        21 => "download invalid metadata magic string",
        22 => "download signature missing in manifest",
        23 => "download manifest parse error",
        24 => "download metadata signature error",
        25 => "download metadata signature verification error",
        26 => "download metadata signature mismatch",
        27 => "download operation hash verification error",
        28 => "download operation execution error",
        29 => "download operation hash mismatch",
        30 => "Omaha request empty response",
        31 => "Omaha request XML parse error",
        32 => "download invalid metadata size",
        33 => "download invalid metadata signature",
        34 => "Omaha response invalid",
        35 => "Omaha update ignored per policy",
        36 => "Omaha update deferred per policy",
        37 => "Omaha error in HTTP response",
        38 => "download operation hash missing",
        39 => "download metadata signature missing",
        40 => "Omaha update deferred for backoff",
        41 => "postinstall powerwash error",
        42 => "new PCR policy verification error",
        43 => "new PCR policy HTTP error",
        44 => "rollback detected",
        100 => "download incomplete",
        2000..=2999 => return Some(Cow::Owned(format!("HTTP {}", base - 2000))),
        _ => return None,
    };
    Some(Cow::Borrowed(name))
}

#[cfg(test)]
mod error_code_tests {
    use super::error_code_name;

    #[test]
    fn error_codes_are_named_with_flag_bits_masked() {
        let cases: &[(i64, Option<&str>)] = &[
            (0, Some("success")),
            (10, Some("payload hash mismatch")),
            (34, Some("Omaha response invalid")),
            (44, Some("rollback detected")),
            (0x1000_0000 | 44, Some("rollback detected")),
            (268_437_959, Some("HTTP 503")),
            (2000, Some("HTTP 0")),
            (45, None),
            (-1, None),
            (3000, None),
        ];
        for (code, name) in cases {
            assert_eq!(error_code_name(*code).as_deref(), *name, "{code}");
        }
    }
}
