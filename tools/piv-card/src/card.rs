//! The APDU layer between vpcd and piv-authenticator, with the adjustments the `yubikey` crate
//! needs (see NOTES.md, "A virtual PIV card for tests").

use std::{cell::Cell, sync::Mutex};

use iso7816::{command::FromSliceError, Command, Instruction, Status};
use piv_authenticator::{Authenticator, Options};
use trussed_core::{syscall, types::Location, CryptoClient};

use crate::{metadata::Metadata, trussed_glue::SharedClient};

/// Largest command after chaining (a certificate object of a few KiB) and largest response.
const MAX_COMMAND: usize = 7609;
const MAX_RESPONSE: usize = 7609;

/// The 5-byte RID the `yubikey` crate and yubico-piv-tool select with, and the full PIV AID
/// (NIST SP 800-73-4) that piv-authenticator matches (at least its first 9 bytes).
const PIV_RID: [u8; 5] = [0xA0, 0x00, 0x00, 0x03, 0x08];
const PIV_AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];

/// YubiKey vendor instructions answered here rather than by the card.
const INS_GET_SERIAL: u8 = 0xF8;
const INS_GET_VERSION: u8 = 0xFD;
const INS_GET_METADATA: u8 = 0xF7;
const INS_RESET: u8 = 0xFB;
/// Answered by piv-authenticator; watched to keep the keys' metadata.
const INS_GENERATE: u8 = 0x47;

/// Status words with no name in iso7816 0.2 that we emit ourselves.
const SW_SUCCESS: [u8; 2] = [0x90, 0x00];
const SW_CONDITIONS_NOT_SATISFIED: [u8; 2] = [0x69, 0x85];
const SW_REFERENCE_NOT_FOUND: [u8; 2] = [0x6A, 0x88];
const SW_INS_NOT_SUPPORTED: [u8; 2] = [0x6D, 0x00];

/// Held while the card works on a command; the signal handler takes it before exiting so that a
/// stop never cuts a storage write short.
pub static BUSY: Mutex<()> = Mutex::new(());

fn busy() -> std::sync::MutexGuard<'static, ()> {
    BUSY.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Config {
    pub serial: u32,
    pub version: [u8; 3],
    /// Key metadata, answered from firmware 5.3 on as a YubiKey does.
    pub metadata: Metadata,
}

pub struct VirtualPiv<'a> {
    client: SharedClient<'a>,
    options: Options,
    app: Authenticator<SharedClient<'a>>,
    /// The app has seen a command since the last power cycle.
    app_used: bool,
    /// Chained command being assembled (CLA bit 0x10).
    chain: Option<Command<MAX_COMMAND>>,
    /// Response not yet fetched with GET RESPONSE.
    pending: Vec<u8>,
    pending_offset: usize,
    config: Config,
    /// pcscd powered the card up (it does so when it notices a new card) ...
    powered_once: bool,
    /// ... and then fetched the ATR: from here on pcscd lists the card.
    seen_by_pcscd: Cell<bool>,
}

impl<'a> VirtualPiv<'a> {
    pub fn new(client: SharedClient<'a>, config: Config) -> Self {
        let options = Options::default();
        let app = Authenticator::new(client.clone(), options.clone());
        VirtualPiv {
            client,
            options,
            app,
            app_used: false,
            chain: None,
            pending: Vec::new(),
            pending_offset: 0,
            config,
            powered_once: false,
            seen_by_pcscd: Cell::new(false),
        }
    }

    /// Whether pcscd has powered the card up and read its ATR. (vpcd already asks for the ATR
    /// when the card connects, before pcscd registers the card: that first ATR does not count.)
    pub fn seen_by_pcscd(&self) -> bool {
        self.seen_by_pcscd.get()
    }

    /// Power off/reset: forget the volatile security state, as a real card does.
    fn power_cycle(&mut self) {
        self.chain = None;
        self.pending.clear();
        self.pending_offset = 0;
        self.reset_security_status();
    }

    /// Drop PIN verification, management-key authentication and pending challenges; keys,
    /// objects, PIN/PUK and retry counters (persistent state) stay. A YubiKey does this on power
    /// loss, on reset and when the PIV applet is selected again (the `yubikey` crate's
    /// `get_pin_retries` relies on the latter to read the counter).
    fn reset_security_status(&mut self) {
        if !self.app_used {
            return;
        }
        self.app_used = false;
        // VERIFY with P1=FF (PIV "reset security status") deletes the PIN key the app holds in
        // volatile storage; then drop any other volatile keys, then start a fresh app (its
        // security state is private to piv-authenticator).
        let mut reply = heapless::Vec::<u8, 16>::new();
        if let Ok(logout) = Command::<16>::try_from(&[0x00, 0x20, 0xFF, 0x80][..]) {
            let _ = self.app.respond(logout.as_view(), reply.as_mut_view());
        }
        let mut client = self.client.clone();
        let _ = syscall!(client.delete_all(Location::Volatile));
        self.app = Authenticator::new(self.client.clone(), self.options.clone());
        log::debug!("security status reset");
    }

    fn handle(&mut self, apdu: &[u8]) -> (Vec<u8>, [u8; 2]) {
        let mut command = match Command::<MAX_COMMAND>::try_from(apdu) {
            Ok(command) => command,
            Err(err) => {
                log::warn!("cannot parse APDU {}: {err:?}", hex(apdu));
                let status = match err {
                    FromSliceError::InvalidClass => Status::ClassNotSupported,
                    FromSliceError::InvalidFirstBodyByteForExtended => {
                        Status::UnspecifiedCheckingError
                    }
                    _ => Status::WrongLength,
                };
                return (Vec::new(), status.into());
            }
        };

        // A missing Le means "no data expected" to iso7816; a YubiKey sends its data anyway, and
        // the `yubikey` crate relies on that. Treat it as the largest short (or extended) Le.
        let le = match command.expected() {
            0 if command.extended => 65536,
            0 => 256,
            n => n,
        };
        let ins: u8 = command.instruction().into();
        let cla = apdu[0];

        if command.instruction() == Instruction::GetResponse {
            if self.pending.is_empty() {
                return (Vec::new(), SW_CONDITIONS_NOT_SATISFIED);
            }
            return self.next_chunk(le);
        }
        self.pending.clear();
        self.pending_offset = 0;

        // Command chaining: collect the parts, answer each but the last with 9000.
        if command.class().chain().not_the_last() {
            match &mut self.chain {
                Some(head) if head.instruction() == command.instruction() => {
                    if head.extend_from_command(&command).is_err() {
                        self.chain = None;
                        return (Vec::new(), Status::WrongLength.into());
                    }
                }
                _ => self.chain = Some(command),
            }
            return (Vec::new(), SW_SUCCESS);
        }
        if let Some(mut head) = self.chain.take() {
            if head.instruction() == command.instruction() {
                if head.extend_from_command(&command).is_err() {
                    return (Vec::new(), Status::WrongLength.into());
                }
                command = head;
            }
        }

        if cla == 0x00 && ins == INS_GET_VERSION {
            return (self.config.version.to_vec(), SW_SUCCESS);
        }
        if cla == 0x00 && ins == INS_GET_SERIAL {
            return (self.config.serial.to_be_bytes().to_vec(), SW_SUCCESS);
        }
        if cla == 0x00 && ins == INS_GET_METADATA {
            if self.config.version[..2] < [5, 3][..] {
                return (Vec::new(), SW_INS_NOT_SUPPORTED);
            }
            return match self.config.metadata.answer(command.p2) {
                Some(data) => (data, SW_SUCCESS),
                None => (Vec::new(), SW_REFERENCE_NOT_FOUND),
            };
        }
        if command.instruction() == Instruction::Select && command.p1 == 0x04 {
            if command.data().as_slice() == PIV_RID {
                let data = command.data_mut();
                data.clear();
                data.extend_from_slice(&PIV_AID).expect("AID fits");
            }
            if command.data().starts_with(&PIV_AID[..9]) {
                self.reset_security_status();
            }
        }

        self.app_used = true;
        let mut reply = heapless::Vec::<u8, MAX_RESPONSE>::new();
        match self.app.respond(command.as_view(), reply.as_mut_view()) {
            Ok(()) => {
                if cla == 0x00 && ins == INS_GENERATE {
                    self.config
                        .metadata
                        .generated(command.p2, command.data(), &reply);
                } else if cla == 0x00 && ins == INS_RESET {
                    self.config.metadata.clear();
                }
                self.pending = reply.to_vec();
                self.next_chunk(le)
            }
            Err(status) => (Vec::new(), status.into()),
        }
    }

    fn next_chunk(&mut self, le: usize) -> (Vec<u8>, [u8; 2]) {
        let end = self.pending.len().min(self.pending_offset + le);
        let data = self.pending[self.pending_offset..end].to_vec();
        self.pending_offset = end;
        let rest = self.pending.len() - end;
        let sw = if rest == 0 {
            self.pending.clear();
            self.pending_offset = 0;
            SW_SUCCESS
        } else {
            // 61 00 stands for "256 or more bytes left".
            [0x61, u8::try_from(rest).unwrap_or(0)]
        };
        (data, sw)
    }
}

impl vpicc::VSmartCard for VirtualPiv<'_> {
    fn atr(&self) -> &[u8] {
        if self.powered_once {
            self.seen_by_pcscd.set(true);
        }
        vpicc::DEFAULT_ATR
    }

    fn power_on(&mut self) {
        let _busy = busy();
        log::debug!("power on");
        self.powered_once = true;
        self.power_cycle();
    }

    fn power_off(&mut self) {
        let _busy = busy();
        log::debug!("power off");
        self.power_cycle();
    }

    fn reset(&mut self) {
        let _busy = busy();
        log::debug!("reset");
        self.power_cycle();
    }

    fn execute(&mut self, apdu: &[u8]) -> Vec<u8> {
        let _busy = busy();
        let (mut data, sw) = self.handle(apdu);
        log::debug!("> {}", hex(apdu));
        log::debug!("< {} {}", hex(&data), hex(&sw));
        data.extend_from_slice(&sw);
        data
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
