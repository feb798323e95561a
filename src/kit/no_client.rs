//! The stand-in client for protocols that have no clients (failure detection, membership,
//! anything driven by its own timers): it never sends, never arms a timer and never records
//! an operation, whatever the scenario's workload says.

use crate::protocol::{
    ClientCtx, ClientId, ClientLogic, NodeId, Protocol, RequestId, WorkloadConfig,
};

/// A client that does nothing, for any protocol: `type Client = NoClient;`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NoClient;

impl<P: Protocol> ClientLogic<P> for NoClient {
    fn new(_: ClientId, _: u32, _: &WorkloadConfig, _: &P::Config) -> Self {
        NoClient
    }
    fn on_start(&mut self, _: &mut ClientCtx<'_, P>) {}
    fn on_response(&mut self, _: &mut ClientCtx<'_, P>, _: NodeId, _: RequestId, _: P::Response) {}
    fn on_timer(&mut self, _: &mut ClientCtx<'_, P>, _: u64) {}
}
