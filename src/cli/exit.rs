//! custody's exit codes (documented in the README) and the one place where a library error's
//! kind becomes one. The vector tests include this file too, so the `exit:` they check is the
//! code the CLI really gives.

use custody::ErrorKind;

pub const OK: i32 = 0;
pub const OTHER: i32 = 1;
pub const USAGE: i32 = 2;
pub const AUTH: i32 = 3;
pub const NOT_FOUND: i32 = 4;
pub const DAMAGED: i32 = 5;
pub const PIN_LOCKED: i32 = 6;
pub const OUTPUT_EXISTS: i32 = 7;
pub const NOT_ENOUGH_SHARES: i32 = 8;

/// The exit code of a failure of this kind.
pub fn code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Authentication => AUTH,
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::Damaged
        | ErrorKind::InvalidFile
        | ErrorKind::UnsupportedVersion
        | ErrorKind::NotABackup
        | ErrorKind::Altered
        | ErrorKind::InconsistentShares => DAMAGED,
        ErrorKind::PinBlocked => PIN_LOCKED,
        ErrorKind::OutputExists => OUTPUT_EXISTS,
        ErrorKind::NotEnoughShares => NOT_ENOUGH_SHARES,
        ErrorKind::InvalidRequest => USAGE,
        _ => OTHER,
    }
}

/// The name of an exit code in a `--json` error (`error.kind`).
pub fn kind_name(code: i32) -> &'static str {
    match code {
        OK => "ok",
        USAGE => "usage",
        AUTH => "authentication",
        NOT_FOUND => "not-found",
        DAMAGED => "damaged-or-invalid",
        PIN_LOCKED => "pin-locked",
        OUTPUT_EXISTS => "output-exists",
        NOT_ENOUGH_SHARES => "not-enough-shares",
        129.. => "interrupted",
        _ => "other",
    }
}
