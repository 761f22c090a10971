//! The trussed side of the card: which backends serve the PIV app, and a client handle that can
//! be shared so that a "power cycle" can build a fresh `Authenticator` on the same trussed client.

use std::{cell::RefCell, rc::Rc, task::Poll};

use trussed::{
    backend::{Backend as _, BackendId},
    platform::Platform,
    serde_extensions::{ExtensionDispatch, ExtensionId, ExtensionImpl},
    service::ServiceResources,
    types::Context,
    virt,
};
use trussed_auth::AuthExtension;
use trussed_auth_backend::{AuthBackend, AuthContext, FilesystemLayout};
use trussed_chunked::ChunkedExtension;
use trussed_core::{
    api::{reply, request, Reply, Request},
    serde_extensions::{Extension, ExtensionClient},
    types::Location,
    ClientResult, Error, FutureResult, PollClient,
};
use trussed_hpke::HpkeExtension;
use trussed_staging::{StagingBackend, StagingContext};
use trussed_wrap_key_to_file::WrapKeyToFileExtension;

/// Order in which trussed asks the backends; `Core` (trussed's own mechanisms) comes last.
pub const BACKENDS: &[BackendId<BackendKind>] = &[
    BackendId::Custom(BackendKind::Staging),
    BackendId::Custom(BackendKind::Auth),
    BackendId::Core,
];

#[derive(Debug, Clone, Copy)]
pub enum BackendKind {
    Auth,
    Staging,
}

#[derive(Debug, Clone, Copy)]
pub enum ExtensionKind {
    Auth,
    Chunked,
    Hpke,
    WrapKeyToFile,
}

impl From<ExtensionKind> for u8 {
    fn from(kind: ExtensionKind) -> u8 {
        match kind {
            ExtensionKind::Auth => 0,
            ExtensionKind::Chunked => 1,
            ExtensionKind::Hpke => 2,
            ExtensionKind::WrapKeyToFile => 3,
        }
    }
}

impl TryFrom<u8> for ExtensionKind {
    type Error = Error;
    fn try_from(id: u8) -> Result<Self, Error> {
        Ok(match id {
            0 => ExtensionKind::Auth,
            1 => ExtensionKind::Chunked,
            2 => ExtensionKind::Hpke,
            3 => ExtensionKind::WrapKeyToFile,
            _ => return Err(Error::InternalError),
        })
    }
}

/// The backends piv-authenticator needs: trussed-auth (PIN/PUK storage and retry counters) and
/// trussed-staging (chunked files, HPKE, wrap-key-to-file).
pub struct Dispatch {
    auth: AuthBackend,
    staging: StagingBackend,
}

#[derive(Default)]
pub struct DispatchContext {
    auth: AuthContext,
    staging: StagingContext,
}

impl Dispatch {
    pub fn new() -> Self {
        Dispatch {
            auth: AuthBackend::new(Location::Internal, FilesystemLayout::V0),
            staging: StagingBackend::new(),
        }
    }
}

impl ExtensionDispatch for Dispatch {
    type BackendId = BackendKind;
    type Context = DispatchContext;
    type ExtensionId = ExtensionKind;

    fn core_request<P: Platform>(
        &mut self,
        backend: &BackendKind,
        ctx: &mut Context<DispatchContext>,
        request: &Request,
        resources: &mut ServiceResources<P>,
    ) -> Result<Reply, Error> {
        match backend {
            BackendKind::Auth => {
                self.auth
                    .request(&mut ctx.core, &mut ctx.backends.auth, request, resources)
            }
            BackendKind::Staging => {
                self.staging
                    .request(&mut ctx.core, &mut ctx.backends.staging, request, resources)
            }
        }
    }

    fn extension_request<P: Platform>(
        &mut self,
        backend: &BackendKind,
        extension: &ExtensionKind,
        ctx: &mut Context<DispatchContext>,
        request: &request::SerdeExtension,
        resources: &mut ServiceResources<P>,
    ) -> Result<reply::SerdeExtension, Error> {
        let core = &mut ctx.core;
        match (backend, extension) {
            (BackendKind::Auth, ExtensionKind::Auth) => {
                <AuthBackend as ExtensionImpl<AuthExtension>>::extension_request_serialized(
                    &mut self.auth,
                    core,
                    &mut ctx.backends.auth,
                    request,
                    resources,
                )
            }
            (BackendKind::Staging, ExtensionKind::Chunked) => {
                <StagingBackend as ExtensionImpl<ChunkedExtension>>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendKind::Staging, ExtensionKind::Hpke) => {
                <StagingBackend as ExtensionImpl<HpkeExtension>>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendKind::Staging, ExtensionKind::WrapKeyToFile) => {
                <StagingBackend as ExtensionImpl<WrapKeyToFileExtension>>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            _ => Err(Error::RequestNotAvailable),
        }
    }
}

impl ExtensionId<AuthExtension> for Dispatch {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::Auth;
}
impl ExtensionId<ChunkedExtension> for Dispatch {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::Chunked;
}
impl ExtensionId<HpkeExtension> for Dispatch {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::Hpke;
}
impl ExtensionId<WrapKeyToFileExtension> for Dispatch {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::WrapKeyToFile;
}

pub type VirtClient<'a> = virt::Client<'a, Dispatch>;

/// A cloneable handle on the one trussed client of this process.
///
/// `piv_authenticator::Authenticator` owns its client and keeps its volatile security state
/// (PIN verified, management key authenticated) private. To emulate a card reset we drop the
/// authenticator and build a new one on another handle to the same client.
#[derive(Clone)]
pub struct SharedClient<'a>(Rc<RefCell<VirtClient<'a>>>);

impl<'a> SharedClient<'a> {
    pub fn new(client: VirtClient<'a>) -> Self {
        SharedClient(Rc::new(RefCell::new(client)))
    }
}

impl PollClient for SharedClient<'_> {
    fn request<Rq: trussed_core::api::RequestVariant>(
        &mut self,
        req: Rq,
    ) -> ClientResult<'_, Rq::Reply, Self> {
        // The inner future only borrows the inner client; polling goes through `poll` below.
        self.0.borrow_mut().request(req).map(drop)?;
        Ok(FutureResult::new(self))
    }

    fn poll(&mut self) -> Poll<Result<Reply, Error>> {
        self.0.borrow_mut().poll()
    }
}

impl trussed_core::CryptoClient for SharedClient<'_> {}
impl trussed_core::FilesystemClient for SharedClient<'_> {}
impl trussed_core::mechanisms::Tdes for SharedClient<'_> {}

impl<E: Extension> ExtensionClient<E> for SharedClient<'_>
where
    Dispatch: ExtensionId<E>,
{
    fn id() -> u8 {
        <Dispatch as ExtensionId<E>>::ID.into()
    }
}
